using System.Linq;
using Xunit;

namespace LargeFolios.PageTables.Tests;

internal static class VmaTestHelpers
{
    public const ulong Page = 0x1000;

    public const VmaFlags R = VmaFlags.Anonymous | VmaFlags.Read;

    public const VmaFlags Rw = VmaFlags.Anonymous | VmaFlags.Read | VmaFlags.Write;

    public const VmaFlags RwHuge = Rw | VmaFlags.HugePage;

    public const VmaFlags RwNoHuge = Rw | VmaFlags.NoHugePage;

    /// <summary>A VMA as mmap makes it: a writable one is accounted (VM_ACCOUNT), as Linux's <c>accountable_mapping</c> says.</summary>
    public static Vma V(ulong start, ulong end, VmaFlags flags) =>
        new(start, end, (flags & VmaFlags.Write) != 0 ? flags | VmaFlags.Account : flags);

    /// <summary>Every VMA, read under the read lock.</summary>
    public static Vma[] All(VmaSet set)
    {
        using (set.Lock.Read())
            return set.ToArray();
    }

    /// <summary>Asserts the set holds exactly <paramref name="expected"/> and is valid.</summary>
    public static void AssertVmas(VmaSet set, params Vma[] expected)
    {
        Assert.Equal(expected, All(set));
        set.Validate();
    }

    /// <summary>A set holding <paramref name="vmas"/>, mapped one by one.</summary>
    public static VmaSet With(params Vma[] vmas)
    {
        var set = new VmaSet();
        foreach (Vma vma in vmas)
            Assert.Empty(set.Map(vma.Start, vma.Length, vma.Flags));
        Assert.Equal(vmas.Length, All(set).Length);
        return set;
    }

    public static string Hex(ulong address) => $"0x{address:x}";

    public static string Describe(Vma[] vmas) => string.Join(" ", vmas.Select(v => v.ToString()));
}
