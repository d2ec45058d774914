using System;
using System.Globalization;
using System.IO;
using LargeFolios.BuddyAllocator;
using Microsoft.Diagnostics.Tracing;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Typed reads of an event's fields by name. The trace's own metadata names the fields, so a field
/// that is missing means a trace from another version of the provider, and says so.
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
        new($"event {Name(data)} has no {field} field: a trace from another version of {LargeFoliosEventSource.ProviderName}?");

    private static InvalidDataException Mistyped(TraceEvent data, string field, object value) =>
        new($"event {Name(data)} has a {value.GetType().Name} in its {field} field, not a number");

    private static InvalidDataException OutOfRange(TraceEvent data, string field, object value) =>
        new($"event {Name(data)} has {field} {value}, out of range for the field");

    private static string Name(TraceEvent data) => $"{data.EventName} (id {(int)data.ID})";
}
