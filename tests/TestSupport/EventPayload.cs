using System;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace LargeFolios.TestSupport;

/// <summary>An EventListener's payload fields by name.</summary>
public static class EventPayload
{
    /// <summary>The field <paramref name="name"/> as a 32-bit integer (booleans and enumerations included).</summary>
    public static int Int(this EventWrittenEventArgs e, string name) => Convert.ToInt32(Field(e, name), CultureInfo.InvariantCulture);

    /// <summary>The field <paramref name="name"/> as a 64-bit integer.</summary>
    public static long Long(this EventWrittenEventArgs e, string name) => Convert.ToInt64(Field(e, name), CultureInfo.InvariantCulture);

    private static object? Field(EventWrittenEventArgs e, string name)
    {
        int index = e.PayloadNames!.IndexOf(name);
        if (index < 0)
            throw new ArgumentException($"Event {e.EventName} has no field {name}; it has {string.Join(", ", e.PayloadNames)}.", nameof(name));
        return e.Payload![index];
    }
}
