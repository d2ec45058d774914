using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// What every layer's event provider shares (<see cref="AllocatorEventSource"/>, and the page
/// tables' and the fault path's above it): the manifest format ETW tools read without a registered
/// manifest, and payload writers that fill <see cref="EventSource.EventData"/> on the stack from
/// fixed-size fields, so an enabled event allocates nothing.
/// </summary>
/// <remarks>
/// A provider's event method checks its own level and keyword with <see cref="EventSource.IsEnabled(EventLevel, EventKeywords)"/>,
/// then calls <c>Write</c> with its fields in the order of its parameters, which name them in the
/// manifest. Booleans travel as 4-byte integers (the manifest's win:Boolean, <see cref="Flag"/>);
/// enumerations as their underlying integers.
/// </remarks>
[SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "EventSource writers are instance methods.")]
[UnconditionalSuppressMessage("ReleaseTrimming", "IL2026", Justification = "The writers take unmanaged fields only: nothing for the trimmer to remove.")]
public abstract unsafe class LayerEventSource : EventSource
{
    /// <summary>A provider in the manifest format (<see cref="EventSourceSettings.EtwManifestEventFormat"/>).</summary>
    protected LayerEventSource()
        : base(EventSourceSettings.EtwManifestEventFormat)
    {
    }

    /// <summary>A boolean as the 4-byte integer the manifest's win:Boolean is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static int Flag(bool value) => value ? 1 : 0;

    /// <summary>Writes event <paramref name="eventId"/> with three fields.</summary>
    [NonEvent]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void Write<T0, T1, T2>(int eventId, T0 f0, T1 f1, T2 f2)
        where T0 : unmanaged
        where T1 : unmanaged
        where T2 : unmanaged
    {
        EventData* data = stackalloc EventData[3];
        Set(data, &f0);
        Set(data + 1, &f1);
        Set(data + 2, &f2);
        WriteEventCore(eventId, 3, data);
    }

    /// <summary>Writes event <paramref name="eventId"/> with four fields.</summary>
    [NonEvent]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void Write<T0, T1, T2, T3>(int eventId, T0 f0, T1 f1, T2 f2, T3 f3)
        where T0 : unmanaged
        where T1 : unmanaged
        where T2 : unmanaged
        where T3 : unmanaged
    {
        EventData* data = stackalloc EventData[4];
        Set(data, &f0);
        Set(data + 1, &f1);
        Set(data + 2, &f2);
        Set(data + 3, &f3);
        WriteEventCore(eventId, 4, data);
    }

    /// <summary>Writes event <paramref name="eventId"/> with five fields.</summary>
    [NonEvent]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void Write<T0, T1, T2, T3, T4>(int eventId, T0 f0, T1 f1, T2 f2, T3 f3, T4 f4)
        where T0 : unmanaged
        where T1 : unmanaged
        where T2 : unmanaged
        where T3 : unmanaged
        where T4 : unmanaged
    {
        EventData* data = stackalloc EventData[5];
        Set(data, &f0);
        Set(data + 1, &f1);
        Set(data + 2, &f2);
        Set(data + 3, &f3);
        Set(data + 4, &f4);
        WriteEventCore(eventId, 5, data);
    }

    /// <summary>Writes event <paramref name="eventId"/> with six fields.</summary>
    [NonEvent]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void Write<T0, T1, T2, T3, T4, T5>(int eventId, T0 f0, T1 f1, T2 f2, T3 f3, T4 f4, T5 f5)
        where T0 : unmanaged
        where T1 : unmanaged
        where T2 : unmanaged
        where T3 : unmanaged
        where T4 : unmanaged
        where T5 : unmanaged
    {
        EventData* data = stackalloc EventData[6];
        Set(data, &f0);
        Set(data + 1, &f1);
        Set(data + 2, &f2);
        Set(data + 3, &f3);
        Set(data + 4, &f4);
        Set(data + 5, &f5);
        WriteEventCore(eventId, 6, data);
    }

    /// <summary>Writes event <paramref name="eventId"/> with seven fields.</summary>
    [NonEvent]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void Write<T0, T1, T2, T3, T4, T5, T6>(int eventId, T0 f0, T1 f1, T2 f2, T3 f3, T4 f4, T5 f5, T6 f6)
        where T0 : unmanaged
        where T1 : unmanaged
        where T2 : unmanaged
        where T3 : unmanaged
        where T4 : unmanaged
        where T5 : unmanaged
        where T6 : unmanaged
    {
        EventData* data = stackalloc EventData[7];
        Set(data, &f0);
        Set(data + 1, &f1);
        Set(data + 2, &f2);
        Set(data + 3, &f3);
        Set(data + 4, &f4);
        Set(data + 5, &f5);
        Set(data + 6, &f6);
        WriteEventCore(eventId, 7, data);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Set<T>(EventData* slot, T* value)
        where T : unmanaged
    {
        // The whole slot, reserved word included: these modules skip locals' zeroing, and ETW reads
        // that word as the descriptor's type.
        *slot = default;
        slot->DataPointer = (nint)value;
        slot->Size = sizeof(T);
    }
}
