using System;
using System.Diagnostics.Tracing;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>Payload fields by name.</summary>
internal static class EventPayload
{
    public static int Int(this EventWrittenEventArgs e, string name) => Convert.ToInt32(e.Payload![e.PayloadNames!.IndexOf(name)], System.Globalization.CultureInfo.InvariantCulture);

    public static long Long(this EventWrittenEventArgs e, string name) => Convert.ToInt64(e.Payload![e.PayloadNames!.IndexOf(name)], System.Globalization.CultureInfo.InvariantCulture);
}
