using System;
using System.Diagnostics.CodeAnalysis;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// The rules on <see cref="VmaFlags"/> values, shared by <see cref="Vma"/>, <see cref="VmaSet"/> and its
/// validator so the three cannot disagree: which bits exist, which a caller may change, and which
/// combinations Linux never produces. Every failure names the flags and the address.
/// </summary>
[LayerInterface]
internal static class VmaFlagChecks
{
    /// <summary>Every bit the model knows; anything else is a caller's typo or a forged value.</summary>
    public const VmaFlags Known = VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec | VmaFlags.Shared
        | VmaFlags.DontCopy | VmaFlags.Account | VmaFlags.WipeOnFork | VmaFlags.HugePage | VmaFlags.NoHugePage | VmaFlags.Anonymous;

    /// <summary>
    /// The bits a flag change may touch: protection and its accounting (what mprotect changes), THP
    /// and fork advice (what madvise changes). Anonymous and Shared say what backs the mapping, which
    /// no flag change alters.
    /// </summary>
    public const VmaFlags Changeable = VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec | VmaFlags.Account
        | VmaFlags.DontCopy | VmaFlags.WipeOnFork | VmaFlags.HugePage | VmaFlags.NoHugePage;

    /// <summary>The access bits (Linux VM_ACCESS_FLAGS): what mprotect sets.</summary>
    public const VmaFlags Access = VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec;

    private const VmaFlags BothHugePageBits = VmaFlags.HugePage | VmaFlags.NoHugePage;

    /// <summary>The flags as a name and as the hex word Linux would print, so unknown bits still show.</summary>
    public static string Describe(VmaFlags flags) => $"{flags} (0x{(ulong)flags:x})";

    /// <summary>
    /// Why <paramref name="flags"/> cannot be a VMA's flags at all, or null: unknown bits, or both
    /// VM_HUGEPAGE and VM_NOHUGEPAGE.
    /// </summary>
    public static string? WhyInvalid(VmaFlags flags)
    {
        if ((flags & ~Known) != 0)
            return $"flags {Describe(flags)}, which hold bits 0x{(ulong)(flags & ~Known):x} the model does not know";
        if ((flags & BothHugePageBits) == BothHugePageBits)
            return $"flags {Describe(flags)}, which hold both HugePage and NoHugePage; they exclude each other";
        return null;
    }

    /// <summary>
    /// Why <paramref name="flags"/> cannot be the flags of a VMA in a <see cref="VmaSet"/>, or null: on
    /// top of <see cref="WhyInvalid"/>, every VMA there is private anonymous memory.
    /// </summary>
    public static string? WhyInvalidInSet(VmaFlags flags)
    {
        string? invalid = WhyInvalid(flags);
        if (invalid != null)
            return invalid;
        if ((flags & VmaFlags.Anonymous) == 0)
            return $"flags {Describe(flags)}, which lack Anonymous; every VMA in the set is anonymous";
        return WhyShared(flags);
    }

    /// <summary>
    /// Checks the flags a caller asked <c>mmap</c> for, before anything is changed. Anonymous may be
    /// given or left out (the set adds it); the message shows the flags as the caller gave them.
    /// </summary>
    public static void CheckMapFlags(VmaFlags flags, ulong start, string what, string paramName)
    {
        string? invalid = WhyInvalid(flags) ?? WhyShared(flags);
        if (invalid != null)
            Throw($"Cannot {what} at 0x{start:x} with {invalid}.", paramName);
    }

    /// <summary>
    /// Checks a set/clear pair before anything is changed: only <see cref="Changeable"/> bits, no bit
    /// both set and cleared, and not both THP advice bits set at once. Whether the result is valid for
    /// each VMA is checked separately, against that VMA's flags.
    /// </summary>
    public static void CheckChange(VmaFlags set, VmaFlags clear, ulong start, string what)
    {
        if ((set & ~Changeable) != 0)
            Throw($"Cannot {what} at 0x{start:x}: cannot set flags {Describe(set & ~Changeable)}; only {Describe(Changeable)} can change.", nameof(set));
        if ((clear & ~Changeable) != 0)
            Throw($"Cannot {what} at 0x{start:x}: cannot clear flags {Describe(clear & ~Changeable)}; only {Describe(Changeable)} can change.", nameof(clear));
        if ((set & clear) != 0)
            Throw($"Cannot {what} at 0x{start:x}: flags {Describe(set & clear)} are both set and cleared.", nameof(set));
        if ((set & BothHugePageBits) == BothHugePageBits)
            Throw($"Cannot {what} at 0x{start:x}: flags {Describe(set)} set both HugePage and NoHugePage, which exclude each other.", nameof(set));
    }

    /// <summary>The flags a VMA has after a change: clear first, then set (set and clear are disjoint anyway).</summary>
    public static VmaFlags Apply(VmaFlags flags, VmaFlags set, VmaFlags clear) => (flags & ~clear) | set;

    // MAP_SHARED | MAP_ANONYMOUS gets a shmem file in Linux (shmem_zero_setup), so it is not anonymous memory.
    private static string? WhyShared(VmaFlags flags) => (flags & VmaFlags.Shared) != 0
        ? $"flags {Describe(flags)}, which hold Shared; a shared anonymous mapping is shmem-backed, which the set does not model"
        : null;

    [DoesNotReturn]
    public static void Throw(string message, string paramName) => throw new ArgumentException(message, paramName);
}
