using System;
using System.Collections.Generic;
using System.Threading;
using Xunit;
using static LargeFolios.PageTables.Tests.VmaTestHelpers;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Every bad argument to the VMA set gets a specific exception whose message names the address in hex
/// (and the flags, for bad flags), and leaves the set exactly as it was: snapshot compared, validator run.
/// </summary>
public class VmaSetBadInputTests
{
    private const ulong TaskSize = VirtualAddress.TaskSize;

    // Every operation that takes a range, by the verb its messages use.
    private static readonly Dictionary<string, Action<VmaSet, ulong, ulong>> Operations = new()
    {
        ["mmap"] = (set, start, length) => set.Map(start, length, Rw),
        ["munmap"] = (set, start, length) => set.Unmap(start, length),
        ["change VMA flags"] = (set, start, length) => set.ChangeFlags(start, length, VmaFlags.HugePage, VmaFlags.NoHugePage),
        ["madvise(MADV_HUGEPAGE)"] = (set, start, length) => set.Madvise(start, length, hugePage: true),
        ["madvise(MADV_NOHUGEPAGE)"] = (set, start, length) => set.Madvise(start, length, hugePage: false),
        ["look up VMAs"] = (set, start, length) =>
        {
            using (set.Lock.Read())
                set.FindIntersecting(start, length);
        },
        ["compute free_pgtables bounds"] = (set, start, length) =>
        {
            using (set.Lock.Read())
                set.GetFreePgtablesBounds(start, length);
        },
    };

    public static TheoryData<string, ulong, ulong, string> BadRanges()
    {
        (ulong Start, ulong Length, string Expected)[] ranges =
        [
            (0x10800, 0x1000, "not page aligned"),
            (0x10001, 0x1000, "not page aligned"),
            (0x10000, 0x1800, "not a whole number of pages"),
            (0x10000, 0xfff, "not a whole number of pages"),
            (0x10000, 0, "length is zero"),
            (0xffff_ffff_ffff_f000, 0x2000, "overflows"),
            (0x1000, ulong.MaxValue - 0xfff, "overflows"),
            (TaskSize - 0x1000, 0x2000, "beyond user space"),
            (TaskSize, 0x1000, "beyond user space"),
            (0x8000_0000_0000, 0x1000, "beyond user space"),
        ];
        var data = new TheoryData<string, ulong, ulong, string>();
        foreach (string operation in Operations.Keys)
        {
            foreach (var (start, length, expected) in ranges)
                data.Add(operation, start, length, expected);
        }

        return data;
    }

    private static VmaSet Populated() => With(V(0x10000, 0x20000, Rw), V(0x20000, 0x22000, RwHuge), V(TaskSize - 0x1000, TaskSize, R));

    [Theory]
    [MemberData(nameof(BadRanges))]
    public void A_bad_range_is_refused_naming_the_address(string operation, ulong start, ulong length, string expected)
    {
        using var set = Populated();
        var before = VmaSnapshot.Take(set);
        var error = Assert.Throws<BadAddressException>(() => Operations[operation](set, start, length));
        Assert.Contains($"Cannot {operation} at {Hex(start)}", error.Message);
        Assert.Contains(expected, error.Message);
        Assert.Equal(start, error.Address);
        Assert.Equal(length, error.Length);
        Assert.False(set.Lock.IsHeld);
        before.AssertUnchanged(set);
    }

    [Theory]
    [InlineData(0x30000UL, 0x4000UL)]   // a hole between VMAs
    [InlineData(0x22000UL, 0x1000UL)]   // just above a VMA
    [InlineData(0xf000UL, 0x1000UL)]    // just below a VMA
    [InlineData(0x0UL, 0x10000UL)]      // everything below the lowest VMA
    public void A_flag_change_with_nothing_mapped_is_refused_like_linux_enomem(ulong start, ulong length)
    {
        using var set = Populated();
        var before = VmaSnapshot.Take(set);
        foreach (Func<bool> change in new Func<bool>[]
        {
            () => set.Madvise(start, length, hugePage: true),
            () => set.Madvise(start, length, hugePage: false),
            () => set.ChangeFlags(start, length, VmaFlags.Write, VmaFlags.None),
        })
        {
            var error = Assert.Throws<BadAddressException>(() => change());
            Assert.Contains($"at {Hex(start)}..{Hex(start + length)}", error.Message);
            Assert.Contains("nothing is mapped", error.Message);
            Assert.Contains("-ENOMEM", error.Message);
            Assert.Equal(start, error.Address);
            before.AssertUnchanged(set);
        }
    }

    [Theory]
    [InlineData(VmaFlags.HugePage | VmaFlags.NoHugePage, "both HugePage and NoHugePage")]
    [InlineData(VmaFlags.Read | VmaFlags.HugePage | VmaFlags.NoHugePage, "both HugePage and NoHugePage")]
    [InlineData(VmaFlags.Read | VmaFlags.Shared, "Shared")]
    [InlineData(VmaFlags.Read | (VmaFlags)0x100, "bits 0x100")]
    [InlineData((VmaFlags)(1UL << 63), "bits 0x8000000000000000")]
    public void Map_with_impossible_flags_is_refused_naming_them(VmaFlags flags, string expected)
    {
        using var set = Populated();
        var before = VmaSnapshot.Take(set);
        var error = Assert.Throws<ArgumentException>(() => set.Map(0x40000, 0x1000, flags));
        Assert.IsNotType<BadAddressException>(error);
        Assert.Equal("flags", error.ParamName);
        Assert.Contains("Cannot mmap at 0x40000", error.Message);
        Assert.Contains($"0x{(ulong)flags:x}", error.Message);
        Assert.Contains(expected, error.Message);
        before.AssertUnchanged(set);
    }

    [Theory]
    [InlineData(VmaFlags.Anonymous, VmaFlags.None, "cannot set")]
    [InlineData(VmaFlags.Shared, VmaFlags.None, "cannot set")]
    [InlineData(VmaFlags.None, VmaFlags.Anonymous, "cannot clear")]
    [InlineData((VmaFlags)0x10, VmaFlags.None, "cannot set")]
    [InlineData(VmaFlags.Write, VmaFlags.Write | VmaFlags.Exec, "both set and cleared")]
    [InlineData(VmaFlags.HugePage | VmaFlags.NoHugePage, VmaFlags.None, "both HugePage and NoHugePage")]
    public void A_flag_change_naming_bits_that_cannot_change_is_refused(VmaFlags set, VmaFlags clear, string expected)
    {
        using var vmas = Populated();
        var before = VmaSnapshot.Take(vmas);
        var error = Assert.Throws<ArgumentException>(() => vmas.ChangeFlags(0x10000, 0x4000, set, clear));
        Assert.IsNotType<BadAddressException>(error);
        Assert.Contains("Cannot change VMA flags at 0x10000", error.Message);
        Assert.Contains(expected, error.Message);
        before.AssertUnchanged(vmas);
    }

    [Fact]
    public void A_flag_change_that_would_leave_some_vma_with_both_thp_bits_changes_none()
    {
        // [0x10000, 0x20000) is Rw, [0x20000, 0x22000) RwHuge: setting NoHugePage without clearing
        // HugePage is fine for the first and impossible for the second, so neither changes.
        using var set = Populated();
        var before = VmaSnapshot.Take(set);
        var error = Assert.Throws<ArgumentException>(() => set.ChangeFlags(0x18000, 0xa000, VmaFlags.NoHugePage, VmaFlags.None));
        Assert.Contains("Cannot change VMA flags at 0x18000", error.Message);
        Assert.Contains("the VMA 0x20000-0x22000", error.Message);
        Assert.Contains("both HugePage and NoHugePage", error.Message);
        Assert.Equal("set", error.ParamName);
        before.AssertUnchanged(set);
    }

    [Fact]
    public void A_mutator_called_under_the_read_lock_is_refused_before_it_changes_anything()
    {
        using var set = Populated();
        var before = VmaSnapshot.Take(set);
        using (set.Lock.Read())
        {
            var map = Assert.Throws<LockRecursionException>(() => set.Map(0x40000, 0x1000, Rw));
            Assert.Contains("Cannot mmap at 0x40000", map.Message);
            Assert.Contains("for reading", map.Message);
            Assert.Throws<LockRecursionException>(() => set.Unmap(0x10000, 0x1000));
            Assert.Throws<LockRecursionException>(() => set.Madvise(0x10000, 0x1000, hugePage: true));
            Assert.True(set.Lock.IsReadHeld);
            Assert.False(set.Lock.IsWriteHeld);
        }

        before.AssertUnchanged(set);
    }

    [Theory]
    [InlineData(0x10000UL, 0x10000UL, "the end is not above the start")]
    [InlineData(0x20000UL, 0x10000UL, "the end is not above the start")]
    [InlineData(0x10800UL, 0x11000UL, "not page aligned")]
    [InlineData(0x10000UL, 0x10800UL, "not a whole number of pages")]
    [InlineData(TaskSize, TaskSize + 0x1000, "beyond user space")]
    public void A_vma_with_a_bad_range_cannot_be_described(ulong start, ulong end, string expected)
    {
        var error = Assert.Throws<BadAddressException>(() => new Vma(start, end, Rw));
        Assert.Contains($"at {Hex(start)}", error.Message);
        Assert.Contains(expected, error.Message);
        Assert.Equal(start, error.Address);
    }

    [Fact]
    public void A_vma_with_both_thp_bits_cannot_be_described()
    {
        var error = Assert.Throws<ArgumentException>(() => new Vma(0x10000, 0x11000, Rw | VmaFlags.HugePage | VmaFlags.NoHugePage));
        Assert.IsNotType<BadAddressException>(error);
        Assert.Contains("at 0x10000..0x11000", error.Message);
        Assert.Contains("both HugePage and NoHugePage", error.Message);
    }
}
