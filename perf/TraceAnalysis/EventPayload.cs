using System;
using System.Globalization;
using System.IO;
using System.Linq;
using LargeFolios.BuddyAllocator;
using Microsoft.Diagnostics.Tracing;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Typed reads of an event's fields by name. The trace's own metadata names the fields, so a field
/// that is missing means a trace from another version of the provider, and says so. A value no
/// provider writes (an order no arena has, a number none of the library's enumerations defines)
/// is damage, and says which event and field hold it.
/// </summary>
internal static class EventPayload
{
    /// <summary>The field as a 32-bit integer.</summary>
    /// <exception cref="InvalidDataException">The event has no such field, or not a number in it.</exception>
    public static int Int32(this TraceEvent data, string field)
    {
        long value = Int64(data, field);
        return value is >= int.MinValue and <= int.MaxValue ? (int)value : throw OutOfRange(data, field, value);
    }

    /// <summary>The field as a 64-bit integer (booleans read as 0 or 1).</summary>
    /// <exception cref="InvalidDataException">The event has no such field, or not a number in it.</exception>
    public static long Int64(this TraceEvent data, string field) => Value(data, field) switch
    {
        bool flag => flag ? 1 : 0,
        ulong big => big <= long.MaxValue ? (long)big : throw OutOfRange(data, field, big),
        IConvertible number => number.ToInt64(CultureInfo.InvariantCulture),
        object other => throw Mistyped(data, field, other),
    };

    /// <summary>The field as an unsigned 64-bit integer: an address or a length.</summary>
    /// <exception cref="InvalidDataException">The event has no such field, or not a number in it.</exception>
    public static ulong UInt64(this TraceEvent data, string field) => Value(data, field) switch
    {
        ulong big => big,
        IConvertible number => number.ToUInt64(CultureInfo.InvariantCulture),
        object other => throw Mistyped(data, field, other),
    };

    /// <summary>The field as a flag: the provider writes booleans as 4-byte integers, which TraceEvent reads back as bool.</summary>
    /// <exception cref="InvalidDataException">The event has no such field, or not a number in it.</exception>
    public static bool Flag(this TraceEvent data, string field) => Int64(data, field) != 0;

    /// <summary>The field as a folio order, checked against the largest order an arena can have.</summary>
    /// <exception cref="InvalidDataException">No such field, or an order no arena has.</exception>
    public static int Order(this TraceEvent data, string field)
    {
        long order = Int64(data, field);
        if ((ulong)order > PageGeometry.MaxSupportedOrder)
            throw new InvalidDataException($"event {Name(data)} has {field} {order}, outside 0..{PageGeometry.MaxSupportedOrder}");
        return (int)order;
    }

    /// <summary>
    /// The field as one of the library's enumerations, which the providers write as their integer
    /// values; for a <see cref="FlagsAttribute"/> enumeration, any combination of its defined bits.
    /// </summary>
    /// <exception cref="InvalidDataException">No such field, or a value <typeparamref name="TEnum"/> does not define.</exception>
    public static TEnum EnumValue<TEnum>(this TraceEvent data, string field)
        where TEnum : struct, Enum
    {
        long value = Int64(data, field);
        if (!Defined<TEnum>.Holds(value))
            throw new InvalidDataException($"event {Name(data)} has {field} {value}, not a {typeof(TEnum).Name} ({Defined<TEnum>.Description})");
        return (TEnum)Enum.ToObject(typeof(TEnum), value);
    }

    private static object Value(TraceEvent data, string field)
    {
        try
        {
            return data.PayloadByName(field) ?? throw Missing(data, field);
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or FormatException)
        {
            // TraceEvent decodes the field when asked: a payload shorter than its metadata fails here.
            throw new InvalidDataException($"event {Name(data)} has an unreadable {field} field ({e.Message})", e);
        }
    }

    private static InvalidDataException Missing(TraceEvent data, string field) =>
        new($"event {Name(data)} has no {field} field: a trace from another version of {data.ProviderName}?");

    private static InvalidDataException Mistyped(TraceEvent data, string field, object value) =>
        new($"event {Name(data)} has a {value.GetType().Name} in its {field} field, not a number");

    private static InvalidDataException OutOfRange(TraceEvent data, string field, object value) =>
        new($"event {Name(data)} has {field} {value}, out of range for the field");

    // Ids are only unique within a provider: the name says whose event it is, in the provider's own
    // words (TraceEvent names a Start/Stop event by its task and opcode).
    private static string Name(TraceEvent data) =>
        $"{data.ProviderName}/{TraceProviders.EventName(data.ProviderName, (int)data.ID) ?? "event"} (id {(int)data.ID})";

    /// <summary>The values <typeparamref name="TEnum"/> defines, worked out once per enumeration.</summary>
    private static class Defined<TEnum>
        where TEnum : struct, Enum
    {
        private static readonly long[] s_values = [.. Enum.GetValues<TEnum>().Select(value => Convert.ToInt64(value, CultureInfo.InvariantCulture)).Order()];
        private static readonly bool s_flags = typeof(TEnum).IsDefined(typeof(FlagsAttribute), inherit: false);
        private static readonly long s_bits = s_values.Aggregate(0L, (bits, value) => bits | value);

        /// <summary>What the enumeration allows, for the error message: its values, or its bits.</summary>
        public static string Description => s_flags
            ? $"expected a combination of the bits 0x{s_bits:X}"
            : $"expected one of {string.Join(", ", s_values)}";

        /// <summary>Whether <paramref name="value"/> is a defined value, or for flags made of defined bits only.</summary>
        public static bool Holds(long value) => s_flags ? value >= 0 && (value & ~s_bits) == 0 : Array.BinarySearch(s_values, value) >= 0;
    }
}
