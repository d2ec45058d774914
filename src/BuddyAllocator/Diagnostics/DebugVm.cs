using System.Diagnostics;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The expensive checks, compiled in only with the DEBUG_VM symbol (<c>-p:DebugVm=true</c>), the
/// analogue of Linux's CONFIG_DEBUG_VM and <c>check_pages_enabled</c>. Three levels in all:
/// argument checks always throw; <see cref="Debug.Assert(bool)"/> guards the hot paths of Debug
/// builds; these walk a whole folio (O(2^order)) on every allocation, free and split, and a whole
/// per-CPU set on every refill and drain. The whole-arena walk is <see cref="Arena.Validate"/>.
/// </summary>
internal static unsafe class DebugVm
{
    /// <summary>Whether this build of the library was compiled with DEBUG_VM.</summary>
    public static bool Enabled =>
#if DEBUG_VM
        true;
#else
        false;
#endif

    /// <summary>A whole live folio; <paramref name="frozen"/>: the caller froze its refcount to 0 to free or split it.</summary>
    [Conditional("DEBUG_VM")]
    public static void CheckFolio(Arena arena, uint pfn, int order, bool frozen = false) =>
        ArenaValidator.CheckLiveFolio(arena, pfn, order, owners: null, frozen);

    /// <summary>Checks a per-CPU set whose lock the caller holds; on failure the lock is released
    /// before the exception leaves, so the report does not turn into a hang.</summary>
    [Conditional("DEBUG_VM")]
    public static void CheckPerCpuSetLocked(Arena arena, PerCpuPages* pcp)
    {
        try
        {
            ArenaValidator.CheckPerCpuSet(arena, pcp, owners: null);
        }
        catch
        {
            pcp->Lock.Exit();
            throw;
        }
    }
}
