using System;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Marks an <c>internal</c> member or type that is part of the surface a layer offers the layers
/// above it (BuddyAllocator to PageTables and FaultPath, PageTables to FaultPath), reached through
/// their <c>InternalsVisibleTo</c> grants: Linux's mm/internal.h, not its exported API. Such a member
/// keeps only its own layer's invariants (an arena's, a tree's) and relies on the caller for the
/// rest (rmap, references, counters), so it stays out of the public API.
/// </summary>
/// <remarks>
/// A test (<c>LayeringTests</c>) reads each upper layer's metadata: every non-public member of a
/// lower layer it uses must carry this attribute, and every member that carries it must be used by
/// a layer above. The surface is what the attribute marks, no more.
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct | AttributeTargets.Interface | AttributeTargets.Method
    | AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Constructor, Inherited = false)]
public sealed class LayerInterfaceAttribute : Attribute
{
}
