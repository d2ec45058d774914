using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;
using static LargeFolios.PageTables.Tests.VmaTestHelpers;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Each operation's splits and merges against what Linux 6.18 does for the same calls: mmap(MAP_FIXED)
/// over existing VMAs, munmap, madvise(MADV_[NO]HUGEPAGE) through vma_modify_flags, and the lookups a
/// fault makes. The validator runs after every step.
/// </summary>
public class VmaSetTests
{
    [Fact]
    public void Map_into_an_empty_set_makes_one_anonymous_vma()
    {
        using var set = new VmaSet();
        Assert.Empty(set.Map(0x10000, 0x4000, VmaFlags.Read | VmaFlags.Write));
        AssertVmas(set, V(0x10000, 0x14000, Rw));
        using (set.Lock.Read())
        {
            Assert.Equal(1, set.Count);
            Assert.True(set.TryFind(0x10000, out Vma vma));
            Assert.True(vma.IsAnonymous);
            Assert.Equal(0x4000UL, vma.Length);
        }
    }

    [Fact]
    public void Map_fixed_over_the_middle_splits_into_three_and_returns_the_replaced_piece()
    {
        using var set = With(V(0x10000, 0x20000, Rw));
        IReadOnlyList<Vma> removed = set.Map(0x14000, 0x4000, R);
        Assert.Equal([V(0x14000, 0x18000, Rw)], removed);
        AssertVmas(set, V(0x10000, 0x14000, Rw), V(0x14000, 0x18000, R), V(0x18000, 0x20000, Rw));
    }

    [Fact]
    public void Map_fixed_with_identical_flags_over_the_middle_merges_back_into_one()
    {
        // vma_merge_new_range merges the new VMA with both pieces the unmap left; the old pages are
        // still reported, since their contents are gone (a fresh mapping reads zeros).
        using var set = With(V(0x10000, 0x20000, Rw));
        Assert.Equal([V(0x14000, 0x18000, Rw)], set.Map(0x14000, 0x4000, Rw));
        AssertVmas(set, V(0x10000, 0x20000, Rw));
    }

    [Fact]
    public void Map_fixed_across_several_vmas_and_holes_returns_each_piece_clipped()
    {
        using var set = With(V(0x10000, 0x14000, R), V(0x16000, 0x18000, Rw), V(0x1a000, 0x20000, RwHuge));
        IReadOnlyList<Vma> removed = set.Map(0x12000, 0xa000, RwNoHuge);
        Assert.Equal([V(0x12000, 0x14000, R), V(0x16000, 0x18000, Rw), V(0x1a000, 0x1c000, RwHuge)], removed);
        AssertVmas(set, V(0x10000, 0x12000, R), V(0x12000, 0x1c000, RwNoHuge), V(0x1c000, 0x20000, RwHuge));
    }

    [Fact]
    public void Map_next_to_a_vma_with_identical_flags_merges_on_either_side()
    {
        using var set = With(V(0x10000, 0x12000, Rw));
        set.Map(0x12000, 0x1000, Rw);
        AssertVmas(set, V(0x10000, 0x13000, Rw));
        set.Map(0xe000, 0x2000, Rw);
        AssertVmas(set, V(0xe000, 0x13000, Rw));
    }

    [Fact]
    public void Map_filling_a_hole_between_identical_vmas_merges_all_three()
    {
        using var set = With(V(0x10000, 0x12000, Rw), V(0x14000, 0x16000, Rw));
        Assert.Empty(set.Map(0x12000, 0x2000, VmaFlags.Read | VmaFlags.Write | VmaFlags.Anonymous));
        AssertVmas(set, V(0x10000, 0x16000, Rw));
    }

    [Fact]
    public void Map_next_to_a_vma_with_different_flags_does_not_merge()
    {
        using var set = With(V(0x10000, 0x12000, Rw), V(0x14000, 0x16000, RwHuge));
        set.Map(0x12000, 0x2000, R);
        AssertVmas(set, V(0x10000, 0x12000, Rw), V(0x12000, 0x14000, R), V(0x14000, 0x16000, RwHuge));
        set.Map(0x16000, 0x1000, RwNoHuge);
        AssertVmas(set, V(0x10000, 0x12000, Rw), V(0x12000, 0x14000, R), V(0x14000, 0x16000, RwHuge), V(0x16000, 0x17000, RwNoHuge));
    }

    [Fact]
    public void Map_up_to_the_top_of_user_space_is_allowed()
    {
        using var set = new VmaSet();
        ulong start = VirtualAddress.TaskSize - 0x4000;
        set.Map(start, 0x4000, Rw);
        AssertVmas(set, V(start, VirtualAddress.TaskSize, Rw));
        set.Map(0, 0x1000, Rw);
        AssertVmas(set, V(0, 0x1000, Rw), V(start, VirtualAddress.TaskSize, Rw));
    }

    [Fact]
    public void Munmap_in_the_middle_splits_in_two_and_returns_the_removed_piece()
    {
        using var set = With(V(0x10000, 0x20000, RwHuge));
        Assert.Equal([V(0x13000, 0x15000, RwHuge)], set.Unmap(0x13000, 0x2000));
        AssertVmas(set, V(0x10000, 0x13000, RwHuge), V(0x15000, 0x20000, RwHuge));
    }

    [Fact]
    public void Munmap_at_either_end_trims_and_of_the_whole_vma_removes_it()
    {
        using var set = With(V(0x10000, 0x20000, Rw));
        Assert.Equal([V(0x10000, 0x11000, Rw)], set.Unmap(0x10000, 0x1000));
        Assert.Equal([V(0x1f000, 0x20000, Rw)], set.Unmap(0x1f000, 0x1000));
        AssertVmas(set, V(0x11000, 0x1f000, Rw));
        Assert.Equal([V(0x11000, 0x1f000, Rw)], set.Unmap(0x11000, 0xe000));
        AssertVmas(set);
    }

    [Fact]
    public void Munmap_of_a_range_with_nothing_mapped_succeeds_and_changes_nothing()
    {
        using var set = With(V(0x10000, 0x12000, Rw), V(0x20000, 0x22000, R));
        Assert.Empty(set.Unmap(0x12000, 0xe000));
        Assert.Empty(set.Unmap(0x40000, 0x1000));
        Assert.Empty(set.Unmap(0, 0x10000));
        AssertVmas(set, V(0x10000, 0x12000, Rw), V(0x20000, 0x22000, R));
    }

    [Fact]
    public void Munmap_across_vmas_and_holes_removes_only_what_is_mapped()
    {
        using var set = With(V(0x10000, 0x14000, Rw), V(0x16000, 0x18000, R), V(0x1a000, 0x1e000, RwHuge));
        IReadOnlyList<Vma> removed = set.Unmap(0x11000, 0xc000);
        Assert.Equal([V(0x11000, 0x14000, Rw), V(0x16000, 0x18000, R), V(0x1a000, 0x1d000, RwHuge)], removed);
        AssertVmas(set, V(0x10000, 0x11000, Rw), V(0x1d000, 0x1e000, RwHuge));
    }

    [Fact]
    public void A_flag_change_on_a_sub_range_gives_three_vmas_and_changing_it_back_merges_them_into_one()
    {
        using var set = With(V(0x10000, 0x20000, Rw));
        Assert.True(set.Madvise(0x14000, 0x4000, hugePage: true));
        AssertVmas(set, V(0x10000, 0x14000, Rw), V(0x14000, 0x18000, RwHuge), V(0x18000, 0x20000, Rw));
        Assert.True(set.ChangeFlags(0x14000, 0x4000, VmaFlags.None, VmaFlags.HugePage));
        AssertVmas(set, V(0x10000, 0x20000, Rw));
    }

    [Fact]
    public void A_flag_change_merges_with_the_previous_vma()
    {
        // vma_merge_existing_range, range at the start of the middle VMA: the changed part joins prev.
        using var set = With(V(0x10000, 0x14000, RwHuge), V(0x14000, 0x1c000, Rw));
        Assert.True(set.Madvise(0x14000, 0x2000, hugePage: true));
        AssertVmas(set, V(0x10000, 0x16000, RwHuge), V(0x16000, 0x1c000, Rw));
    }

    [Fact]
    public void A_flag_change_merges_with_the_next_vma()
    {
        using var set = With(V(0x10000, 0x18000, Rw), V(0x18000, 0x1c000, RwNoHuge));
        Assert.True(set.Madvise(0x16000, 0x2000, hugePage: false));
        AssertVmas(set, V(0x10000, 0x16000, Rw), V(0x16000, 0x1c000, RwNoHuge));
    }

    [Fact]
    public void A_flag_change_of_a_whole_vma_merges_prev_and_next_into_one()
    {
        using var set = With(V(0x10000, 0x14000, RwHuge), V(0x14000, 0x18000, RwNoHuge), V(0x18000, 0x1c000, RwHuge));
        Assert.True(set.Madvise(0x14000, 0x4000, hugePage: true));
        AssertVmas(set, V(0x10000, 0x1c000, RwHuge));
    }

    [Fact]
    public void Mprotect_over_several_vmas_merges_every_piece_that_became_identical()
    {
        using var set = With(V(0x10000, 0x12000, R), V(0x12000, 0x14000, Rw), V(0x14000, 0x16000, R | VmaFlags.Exec), V(0x16000, 0x18000, RwHuge));
        Assert.True(set.Protect(0x11000, 0x6000, VmaFlags.Read | VmaFlags.Write));
        // The read-only pieces become writable and accounted (mprotect_fixup adds VM_ACCOUNT), like the
        // mapped-writable one between them; the last VMA's part keeps its flags and is not split.
        AssertVmas(set, V(0x10000, 0x11000, R), V(0x11000, 0x16000, Rw), V(0x16000, 0x18000, RwHuge));
    }

    [Fact]
    public void A_flag_change_that_changes_nothing_leaves_the_vmas_as_they_were()
    {
        using var set = With(V(0x10000, 0x20000, RwHuge));
        Assert.True(set.Madvise(0x14000, 0x4000, hugePage: true));
        AssertVmas(set, V(0x10000, 0x20000, RwHuge));
    }

    [Fact]
    public void Madvise_hugepage_clears_nohugepage_and_the_reverse()
    {
        using var set = With(V(0x10000, 0x12000, RwNoHuge));
        set.Madvise(0x10000, 0x2000, hugePage: true);
        AssertVmas(set, V(0x10000, 0x12000, RwHuge));
        set.Madvise(0x10000, 0x2000, hugePage: false);
        AssertVmas(set, V(0x10000, 0x12000, RwNoHuge));
    }

    [Fact]
    public void Madvise_over_holes_applies_to_the_mapped_parts_and_reports_enomem()
    {
        // madvise_walk_vmas: unmapped_error = -ENOMEM, but every VMA in the range is still visited.
        using var set = With(V(0x10000, 0x14000, Rw), V(0x18000, 0x1c000, R));
        Assert.False(set.Madvise(0xe000, 0xc000, hugePage: true));
        AssertVmas(set, V(0x10000, 0x14000, RwHuge), V(0x18000, 0x1a000, R | VmaFlags.HugePage), V(0x1a000, 0x1c000, R));
        Assert.False(set.Madvise(0x12000, 0x4000, hugePage: false));
        AssertVmas(set, V(0x10000, 0x12000, RwHuge), V(0x12000, 0x14000, RwNoHuge), V(0x18000, 0x1a000, R | VmaFlags.HugePage), V(0x1a000, 0x1c000, R));
    }

    [Fact]
    public void Lookups_at_start_end_minus_one_and_end()
    {
        using var set = With(V(0x10000, 0x14000, Rw), V(0x18000, 0x1c000, R));
        using (set.Lock.Read())
        {
            Vma low = V(0x10000, 0x14000, Rw);
            Vma high = V(0x18000, 0x1c000, R);

            Assert.True(set.TryFind(0x10000, out Vma found));
            Assert.Equal(low, found);
            Assert.True(set.TryFind(0x13fff, out found));
            Assert.Equal(low, found);
            Assert.False(set.TryFind(0x14000, out found));
            Assert.Equal(default, found);
            Assert.False(set.TryFind(0xffff, out _));
            Assert.True(set.TryFind(0x1bfff, out found));
            Assert.Equal(high, found);
            Assert.False(set.TryFind(0x1c000, out _));
            Assert.False(set.TryFind(ulong.MaxValue, out _));

            // find_vma: the VMA containing the address, else the first above it.
            Assert.True(set.TryFindFirstAtOrAbove(0, out found));
            Assert.Equal(low, found);
            Assert.True(set.TryFindFirstAtOrAbove(0x13fff, out found));
            Assert.Equal(low, found);
            Assert.True(set.TryFindFirstAtOrAbove(0x14000, out found));
            Assert.Equal(high, found);
            Assert.True(set.TryFindFirstAtOrAbove(0x1bfff, out found));
            Assert.Equal(high, found);
            Assert.False(set.TryFindFirstAtOrAbove(0x1c000, out _));

            Assert.False(set.TryFindPrevious(0x10000, out _));
            Assert.False(set.TryFindPrevious(0x13fff, out _));
            Assert.True(set.TryFindPrevious(0x14000, out found));
            Assert.Equal(low, found);
            Assert.True(set.TryFindPrevious(0x18000, out found));
            Assert.Equal(low, found);
            Assert.True(set.TryFindPrevious(0x1c000, out found));
            Assert.Equal(high, found);

            Assert.True(set.TryFindNext(0, out found));
            Assert.Equal(low, found);
            Assert.True(set.TryFindNext(0x10000, out found));
            Assert.Equal(low, found);
            Assert.True(set.TryFindNext(0x10001, out found));
            Assert.Equal(high, found);
            Assert.True(set.TryFindNext(0x18000, out found));
            Assert.Equal(high, found);
            Assert.False(set.TryFindNext(0x18001, out _));

            Assert.Equal([low, high], set.FindIntersecting(0x13000, 0x6000));
            Assert.Equal([low], set.FindIntersecting(0x13000, 0x5000));
            Assert.Equal([high], set.FindIntersecting(0x14000, 0x5000));
            Assert.Empty(set.FindIntersecting(0x14000, 0x4000));
        }
    }

    [Fact]
    public void Lookups_in_an_empty_set_find_nothing()
    {
        using var set = new VmaSet();
        using (set.Lock.Read())
        {
            Assert.Equal(0, set.Count);
            Assert.False(set.TryFind(0, out _));
            Assert.False(set.TryFindFirstAtOrAbove(0, out _));
            Assert.False(set.TryFindPrevious(VirtualAddress.TaskSize, out _));
            Assert.False(set.TryFindNext(0, out _));
            Assert.Empty(set.FindIntersecting(0, VirtualAddress.TaskSize));
            Assert.Equal((0UL, 0UL), set.GetFreePgtablesBounds(0x10000, 0x1000));
        }
    }

    [Fact]
    public void Free_pgtables_bounds_are_linux_floor_and_ceiling()
    {
        using var set = With(V(0x200000, 0x201000, Rw), V(0x400000, 0x410000, R), V(0x800000, 0x801000, Rw));
        using (set.Lock.Read())
        {
            // A hole between VMAs: floor is prev->vm_end, ceiling next->vm_start.
            Assert.Equal((0x201000UL, 0x400000UL), set.GetFreePgtablesBounds(0x300000, 0x1000));

            // Unmapping the middle VMA whole: its neighbours bound it.
            Assert.Equal((0x201000UL, 0x800000UL), set.GetFreePgtablesBounds(0x400000, 0x10000));

            // Nothing below: FIRST_USER_ADDRESS (0); nothing above: USER_PGTABLES_CEILING (0).
            Assert.Equal((0UL, 0x200000UL), set.GetFreePgtablesBounds(0x100000, 0x1000));
            Assert.Equal((0x801000UL, 0UL), set.GetFreePgtablesBounds(0x900000, 0x1000));
            Assert.Equal((0UL, 0UL), set.GetFreePgtablesBounds(0, VirtualAddress.TaskSize));

            // A VMA straddling either end: the piece the split leaves outside bounds the range.
            Assert.Equal((0x404000UL, 0x408000UL), set.GetFreePgtablesBounds(0x404000, 0x4000));
            Assert.Equal((0x201000UL, 0x408000UL), set.GetFreePgtablesBounds(0x300000, 0x108000));
        }

        // Before and after the unmap, the same answer.
        set.Unmap(0x404000, 0x4000);
        using (set.Lock.Read())
            Assert.Equal((0x404000UL, 0x408000UL), set.GetFreePgtablesBounds(0x404000, 0x4000));
        set.Unmap(0x300000, 0x108000);
        using (set.Lock.Read())
            Assert.Equal((0x201000UL, 0x408000UL), set.GetFreePgtablesBounds(0x300000, 0x108000));
        set.Validate();
    }

    [Fact]
    public void Enumeration_is_in_address_order_and_fails_if_the_set_changes_meanwhile()
    {
        using var set = With(V(0x30000, 0x31000, Rw), V(0x10000, 0x11000, R), V(0x20000, 0x21000, RwHuge));
        using (set.Lock.Read())
        {
            Assert.Equal([0x10000UL, 0x20000UL, 0x30000UL], set.Select(v => v.Start).ToArray());
            var starts = new List<ulong>();
            foreach (Vma vma in set)
                starts.Add(vma.Start);
            Assert.Equal([0x10000UL, 0x20000UL, 0x30000UL], starts);
        }

        using (set.Lock.Write())
        {
            var error = Assert.Throws<InvalidOperationException>(() =>
            {
                foreach (Vma vma in set)
                    set.Unmap(vma.Start, vma.Length);
            });
            Assert.Contains("changed during enumeration", error.Message);
        }

        AssertVmas(set, V(0x20000, 0x21000, RwHuge), V(0x30000, 0x31000, Rw));
    }

    [Fact]
    public void Changes_grouped_under_one_write_lock_run_under_it()
    {
        using var set = With(V(0x10000, 0x20000, Rw));
        using (set.Lock.Write())
        {
            Assert.True(set.Lock.IsWriteHeld);
            set.Unmap(0x12000, 0x1000);
            set.Madvise(0x14000, 0x2000, hugePage: true);
            set.Map(0x12000, 0x1000, Rw);
            Assert.Equal(3, set.Count);
            set.Validate();
            Assert.True(set.Lock.IsWriteHeld);
        }

        Assert.False(set.Lock.IsWriteHeld);
        AssertVmas(set, V(0x10000, 0x14000, Rw), V(0x14000, 0x16000, RwHuge), V(0x16000, 0x20000, Rw));
    }

    [Fact]
    public void Mutators_release_the_write_lock_they_took_even_when_they_throw()
    {
        using var set = With(V(0x10000, 0x12000, Rw));
        Assert.Throws<BadAddressException>(() => set.Madvise(0x40000, 0x1000, hugePage: true));
        Assert.True(set.ChangeFlags(0x10000, 0x1000, VmaFlags.HugePage, VmaFlags.None));
        Assert.Throws<ArgumentException>(() => set.ChangeFlags(0x10000, 0x1000, VmaFlags.NoHugePage, VmaFlags.None));
        Assert.False(set.Lock.IsHeld);
        set.Map(0x12000, 0x1000, Rw);
        AssertVmas(set, V(0x10000, 0x11000, RwHuge), V(0x11000, 0x13000, Rw));
    }
}
