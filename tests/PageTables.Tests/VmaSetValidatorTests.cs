using System.Collections.Generic;
using System.Runtime.CompilerServices;
using Xunit;
using static LargeFolios.PageTables.Tests.VmaTestHelpers;

namespace LargeFolios.PageTables.Tests;

/// <summary>The validator can fail: each forged corruption is caught, and the message names the VMAs.</summary>
public class VmaSetValidatorTests
{
    private static VmaSet Set() => With(V(0x10000, 0x14000, Rw), V(0x20000, 0x24000, R));

    private static VmaCorruptionException Corrupt(VmaSet set, int index, Vma forged, bool insert = false)
    {
        // The set has no door for this: the test reaches its list as the runtime lets tests reach
        // private state, and bumps the version as a mutation would.
        List<Vma> vmas = VmaList(set);
        if (insert)
            vmas.Insert(index, forged);
        else
            vmas[index] = forged;
        Version(set)++;
        return Assert.Throws<VmaCorruptionException>(set.Validate);
    }

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_vmas")]
    private static extern ref List<Vma> VmaList(VmaSet set);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_version")]
    private static extern ref int Version(VmaSet set);

    [Fact]
    public void A_sound_set_passes()
    {
        using var set = Set();
        set.Validate();
        using (set.Lock.Write())
            set.Validate();
        using (set.Lock.Read())
            set.Validate();
    }

    [Fact]
    public void An_empty_vma()
    {
        using var set = Set();
        var error = Corrupt(set, 0, Vma.Unchecked(0x10000, 0x10000, Rw));
        Assert.Contains("VMA 0x10000-0x10000", error.Message);
        Assert.Contains("empty", error.Message);
        Assert.Equal(0x10000UL, error.Start);
    }

    [Fact]
    public void An_unaligned_vma()
    {
        using var set = Set();
        var error = Corrupt(set, 1, Vma.Unchecked(0x20000, 0x23800, R));
        Assert.Contains("VMA 0x20000-0x23800", error.Message);
        Assert.Contains("not page aligned", error.Message);
        Assert.Equal(0x23800UL, error.End);
    }

    [Fact]
    public void A_vma_beyond_user_space()
    {
        using var set = Set();
        var error = Corrupt(set, 2, Vma.Unchecked(VirtualAddress.TaskSize, VirtualAddress.TaskSize + 0x1000, R), insert: true);
        Assert.Contains($"VMA {Hex(VirtualAddress.TaskSize)}-", error.Message);
        Assert.Contains("beyond user space", error.Message);
    }

    [Fact]
    public void Overlapping_vmas()
    {
        using var set = Set();
        var error = Corrupt(set, 1, Vma.Unchecked(0x13000, 0x24000, R));
        Assert.Contains("VMA 0x13000-0x24000", error.Message);
        Assert.Contains("0x10000-0x14000", error.Message);
        Assert.Contains("overlaps", error.Message);
    }

    [Fact]
    public void Vmas_out_of_order()
    {
        using var set = Set();
        var error = Corrupt(set, 2, Vma.Unchecked(0x1000, 0x2000, Rw), insert: true);
        Assert.Contains("VMA 0x1000-0x2000", error.Message);
        Assert.Contains("sorted", error.Message);
    }

    [Fact]
    public void Touching_vmas_with_identical_flags_that_did_not_merge()
    {
        using var set = Set();
        var error = Corrupt(set, 1, Vma.Unchecked(0x14000, 0x18000, V(0x14000, 0x18000, Rw).Flags), insert: true);
        Assert.Contains("0x10000-0x14000", error.Message);
        Assert.Contains("0x14000-0x18000", error.Message);
        Assert.Contains("merged", error.Message);
    }

    [Theory]
    [InlineData(VmaFlags.Read | VmaFlags.Write, "lack Anonymous")]
    [InlineData(Rw | VmaFlags.Shared, "Shared")]
    [InlineData(Rw | VmaFlags.HugePage | VmaFlags.NoHugePage, "both HugePage and NoHugePage")]
    [InlineData(Rw | (VmaFlags)0x400, "bits 0x400")]
    public void Impossible_flags(VmaFlags flags, string expected)
    {
        using var set = Set();
        var error = Corrupt(set, 1, Vma.Unchecked(0x20000, 0x24000, flags));
        Assert.Contains("VMA 0x20000-0x24000", error.Message);
        Assert.Contains(expected, error.Message);
    }
}
