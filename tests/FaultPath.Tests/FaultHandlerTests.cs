using System;
using System.Collections.Generic;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// The fault handler's edge cases: SIGSEGV (no VMA, or a VMA that forbids the access), out of
/// memory, order fallback on a fragmented arena, zeroing of dirty memory, spurious faults.
/// </summary>
public sealed class FaultHandlerTests
{
    // ------------------------------------------------------------------ SIGSEGV

    [Theory]
    [InlineData(0x0UL)]
    [InlineData(Base - 1)]                       // the byte just below the VMA
    [InlineData(Base + (2 * Pmd) + 0x123)]       // inside the hole between the two VMAs
    [InlineData(Base + (4 * Pmd))]               // the first byte past the second VMA
    [InlineData(0x7fff_ffff_efffUL)]             // the last byte of user space
    public void Access_outside_every_vma_is_a_segfault_that_changes_nothing(ulong address)
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, 2 * Pmd);
        mm.Mmap(Base + (3 * Pmd), Pmd);
        mm.Madvise(Base + Pmd, Pmd, MadviseAdvice.HugePage);
        mm.Write(Base + 0x5000);
        mm.Write(Base + Pmd + 0x1000);
        mm.Read(Base + (3 * Pmd));
        MachineState before = MachineState.Of(world);
        Assert.Contains("o4", before.Layout, StringComparison.Ordinal);
        Assert.Contains("o9", before.Layout, StringComparison.Ordinal);

        string hex = $"0x{address:x}";
        var write = Assert.Throws<SegmentationFaultException>(() => mm.Write(address, 7));
        Assert.Equal(address, write.Address);
        Assert.Equal(FaultAccess.Write, write.Access);
        Assert.Contains(hex, write.Message, StringComparison.Ordinal);

        var read = Assert.Throws<SegmentationFaultException>(() => mm.Read(address));
        Assert.Equal(address, read.Address);
        Assert.Equal(FaultAccess.Read, read.Access);
        Assert.Contains(hex, read.Message, StringComparison.Ordinal);

        foreach (FaultAccess access in new[] { FaultAccess.Read, FaultAccess.Write })
        {
            var fault = Assert.Throws<SegmentationFaultException>(() => mm.HandleFault(address, access));
            Assert.Equal(address, fault.Address);
            Assert.Equal(access, fault.Access);
            Assert.Contains(hex, fault.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, MachineState.Of(world));
        Assert.True(mm.Translate(address).IsNone);
        world.Machine.Validate();
    }

    [Fact]
    public void Write_to_a_read_only_vma_is_a_segfault_that_changes_nothing()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        ulong ro = Base + Pmd;
        mm.Mmap(Base, Pmd);
        mm.Mmap(ro, 2 * Pmd, VmaFlags.Read);
        mm.Madvise(ro + Pmd, Pmd, MadviseAdvice.HugePage);
        mm.Write(Base + 0x3000);

        // Reads of a read-only VMA map the zero pages (4 KiB, and 2 MiB where the PMD path applies).
        Assert.Equal(0, mm.Read(ro + 0x2000));
        Assert.Equal(FaultKind.HugeZeroPage, mm.HandleFault(ro + Pmd + 0x7000, FaultAccess.Read).Kind);
        MachineState before = MachineState.Of(world);

        foreach (ulong address in new[] { ro, ro + 0x2000, ro + 0x2fff, ro + 0x10000, ro + Pmd + 0x7000, ro + (2 * Pmd) - 1 })
        {
            string hex = $"0x{address:x}";
            var store = Assert.Throws<SegmentationFaultException>(() => mm.Write(address, 0xff));
            Assert.Equal(address, store.Address);
            Assert.Equal(FaultAccess.Write, store.Access);
            Assert.Contains(hex, store.Message, StringComparison.Ordinal);

            var fault = Assert.Throws<SegmentationFaultException>(() => mm.HandleFault(address, FaultAccess.Write));
            Assert.Equal(address, fault.Address);
            Assert.Equal(FaultAccess.Write, fault.Access);
            Assert.Contains(hex, fault.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, MachineState.Of(world));
        Assert.Equal(0, mm.Read(ro + 0x2000));
        Assert.Equal(0, mm.Read(ro + Pmd + 0x7000));
        Assert.False(mm.Translate(ro + 0x2000).IsWritable);
        world.Machine.Validate();
    }

    /// <summary>
    /// A user-mode access at or above TASK_SIZE (0x7ffffffff000 on x86-64) faults too: Linux's
    /// <c>do_kern_addr_fault</c> sends SIGSEGV (<c>bad_area_nosemaphore</c>) to user mode. The
    /// documented contract of <see cref="AddressSpace.Write"/> and <see cref="AddressSpace.Read"/>
    /// is <see cref="SegmentationFaultException"/> for any address no VMA covers.
    /// </summary>
    [Theory]
    [InlineData(0x7fff_ffff_f000UL)]
    [InlineData(0xffff_8880_0000_0000UL)]
    public void Access_beyond_user_space_is_a_segfault(ulong address)
    {
        using var world = new World();
        world.Mm.Mmap(Base, Pmd);
        MachineState before = MachineState.Of(world);
        var fault = Assert.Throws<SegmentationFaultException>(() => world.Mm.HandleFault(address, FaultAccess.Write));
        Assert.Equal(address, fault.Address);
        var write = Assert.Throws<SegmentationFaultException>(() => world.Mm.Write(address));
        Assert.Equal(address, write.Address);
        Assert.Contains($"0x{address:x}", write.Message, StringComparison.Ordinal);
        var read = Assert.Throws<SegmentationFaultException>(() => world.Mm.Read(address));
        Assert.Equal(FaultAccess.Read, read.Access);
        Assert.Equal(before, MachineState.Of(world));
    }

    [Fact]
    public void Read_of_a_prot_none_vma_is_a_segfault_that_changes_nothing()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, Pmd, VmaFlags.None);
        mm.Mmap(Base + Pmd, Pmd);
        mm.Write(Base + Pmd);
        MachineState before = MachineState.Of(world);

        var read = Assert.Throws<SegmentationFaultException>(() => mm.Read(Base + 0x4000));
        Assert.Equal(Base + 0x4000, read.Address);
        Assert.Equal(FaultAccess.Read, read.Access);
        Assert.Contains("0x40004000", read.Message, StringComparison.Ordinal);
        Assert.Throws<SegmentationFaultException>(() => mm.Write(Base + 0x4000));
        Assert.Throws<SegmentationFaultException>(() => mm.HandleFault(Base + 0x4000, FaultAccess.Read));

        Assert.Equal(before, MachineState.Of(world));
        world.Machine.Validate();
    }

    [Fact]
    public void Exec_only_vma_allows_reads()
    {
        using var world = new World();
        world.Mm.Mmap(Base, Pmd, VmaFlags.Exec);
        Assert.Equal(FaultKind.ZeroPage, world.Mm.HandleFault(Base + 0x1000, FaultAccess.Read).Kind);
        Assert.Throws<SegmentationFaultException>(() => world.Mm.Write(Base + 0x1000));
        world.Machine.Validate();
    }

    /// <summary>
    /// Linux counts <c>pgfault</c> in <c>mm_account_fault</c>, called at the end of
    /// <c>handle_mm_fault</c>. An access outside every VMA (<c>bad_area_nosemaphore</c>) or one the
    /// VMA does not allow (<c>bad_area_access_error</c>) is refused by the arch fault handler before
    /// <c>handle_mm_fault</c> runs, so it is not counted.
    /// </summary>
    [Fact]
    public void A_segfault_is_not_counted_as_a_page_fault()
    {
        using var world = new World();
        world.Mm.Mmap(Base, Pmd, VmaFlags.Read);
        long before = world.Event(VmEvent.PgFault);
        Assert.Throws<SegmentationFaultException>(() => world.Mm.Write(Base + (4 * Pmd)));
        Assert.Throws<SegmentationFaultException>(() => world.Mm.Write(Base));
        Assert.Throws<SegmentationFaultException>(() => world.Mm.HandleFault(Base, FaultAccess.Write));
        Assert.Equal(before, world.Event(VmEvent.PgFault));
    }

    [Fact]
    public void Handled_faults_are_counted_as_page_faults()
    {
        using var world = new World();
        world.Mm.Mmap(Base, Pmd);
        world.Mm.Write(Base);                                   // one write fault
        world.Mm.Write(Base);                                   // mapped writable: no fault
        world.Mm.Read(Base + 0x1000);                           // one read fault (zero page)
        world.Mm.HandleFault(Base, FaultAccess.Read);           // spurious
        Assert.Equal(3, world.Event(VmEvent.PgFault));
        Assert.Equal(1, world.Event(VmEvent.SpuriousFault));
        Assert.Equal(1, world.Event(VmEvent.ZeroPageFault));
        Assert.Equal(1, world.Event(VmEvent.AnonFolioFault));
    }

    // ------------------------------------------------------------------ out of memory

    /// <summary>Takes every free page of the arena as order-0 folios.</summary>
    private static List<Folio> TakeEverything(Arena arena)
    {
        var taken = new List<Folio>();
        while (arena.TryAllocate(0, out Folio folio))
            taken.Add(folio);
        Assert.Equal(0, arena.FreePages + arena.CachedPages);
        return taken;
    }

    [Fact]
    public void Exhausted_arena_fault_returns_out_of_memory_and_changes_nothing()
    {
        using var world = new World(arenaBytes: 4 * MiB);
        world.Machine.Overcommit = OvercommitPolicy.Always;   // 8 MiB mapped on a 4 MiB machine, to run out at fault time
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, 4 * Pmd);
        mm.Write(Base);                       // the first PMD's tables exist now
        List<Folio> hog = TakeEverything(world.Arena);
        MachineState before = MachineState.Of(world);

        Assert.Equal(new FaultResult(FaultKind.OutOfMemory, OrdersTried: 1), mm.HandleFault(Base + 0x1000, FaultAccess.Write));
        Assert.Equal(before, MachineState.Of(world));
        Assert.Equal(1, world.Event(VmEvent.OomFault));

        var oom = Assert.Throws<OutOfMemoryException>(() => mm.Write(Base + 0x1000));
        Assert.Contains("0x40001000", oom.Message, StringComparison.Ordinal);
        Assert.Equal(before, MachineState.Of(world));

        // A read in a PMD whose PTE table exists needs no memory: the zero page.
        Assert.Equal(FaultKind.ZeroPage, mm.HandleFault(Base + 0x2000, FaultAccess.Read).Kind);

        // A read in a PMD with no PTE table yet needs a page for it.
        MachineState afterRead = MachineState.Of(world);
        Assert.Equal(FaultKind.OutOfMemory, mm.HandleFault(Base + Pmd, FaultAccess.Read).Kind);
        Assert.Throws<OutOfMemoryException>(() => mm.Read(Base + Pmd + 0x1000));
        Assert.Equal(afterRead, MachineState.Of(world));
        world.Machine.Validate();

        // One page back: the write succeeds at order 0.
        world.Arena.Free(hog[^1]);
        hog.RemoveAt(hog.Count - 1);
        Assert.Equal(new FaultResult(FaultKind.Folio, 0, 0, OrdersTried: 1), mm.HandleFault(Base + 0x1000, FaultAccess.Write));
        world.Machine.Validate();

        foreach (Folio folio in hog)
            world.Arena.Free(folio);
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Out_of_memory_under_mthp_counts_a_fallback_per_order_and_maps_nothing()
    {
        using var world = new World(arenaBytes: 4 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmd);
        mm.Write(Base);                       // an order-4 folio, and the tables
        Assert.Equal(1, world.Stat(4, MthpStatItem.AnonFaultAlloc));
        List<Folio> hog = TakeEverything(world.Arena);
        string layout = mm.FormatLayout();
        long anon = mm.AnonPages;

        // alloc_anon_folio counts anon_fault_fallback for each order it gives up on, then
        // folio_prealloc finds no order-0 page either: VM_FAULT_OOM.
        Assert.Equal(FaultKind.OutOfMemory, mm.HandleFault(Base + 0x10000, FaultAccess.Write).Kind);
        Assert.Equal(1, world.Stat(4, MthpStatItem.AnonFaultFallback));
        Assert.Equal(1, world.Stat(2, MthpStatItem.AnonFaultFallback));
        Assert.Equal(1, world.Stat(4, MthpStatItem.AnonFaultAlloc));
        Assert.Equal(0, world.Stat(2, MthpStatItem.AnonFaultAlloc));
        Assert.Equal(layout, mm.FormatLayout());
        Assert.Equal(anon, mm.AnonPages);
        world.Machine.Validate();

        foreach (Folio folio in hog)
            world.Arena.Free(folio);
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Pmd_fault_without_a_free_pmd_block_falls_back_to_the_pte_path()
    {
        using var world = new World(arenaBytes: 4 * MiB);
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, Pmd);
        mm.Madvise(Base, Pmd, MadviseAdvice.HugePage);

        // Hold one page of every order-9 block so no 2 MiB block can form.
        List<Folio> hog = TakeEverything(world.Arena);
        var keep = new List<Folio>();
        foreach (Folio folio in hog)
        {
            if (folio.Pfn % 512 == 100)
                keep.Add(folio);
            else
                world.Arena.Free(folio);
        }

        world.Arena.DrainPerCpuCaches();
        Assert.Equal(0, world.Arena.GetBuddyInfo().FreeBlocks(9));

        FaultResult result = mm.HandleFault(Base + 0x3000, FaultAccess.Write);
        Assert.Equal(new FaultResult(FaultKind.Folio, 0, 1, OrdersTried: (1u << 9) | 1), result);
        Assert.Equal(1, world.Stat(9, MthpStatItem.AnonFaultFallback));
        Assert.Equal(1, world.Event(VmEvent.ThpFaultFallback));
        Assert.Equal(0, world.Stat(9, MthpStatItem.AnonFaultAlloc));
        Assert.Equal("0x40003000 1 o0\nend\n", mm.FormatLayout());

        // A read there cannot get the huge zero page either: the 4 KiB one.
        Assert.Equal(FaultKind.ZeroPage, mm.HandleFault(Base + 0x4000, FaultAccess.Read).Kind);
        Assert.Null(world.Machine.HugeZeroFolio);
        world.Machine.Validate();

        foreach (Folio folio in keep)
            world.Arena.Free(folio);
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Write_to_the_huge_zero_page_without_a_free_pmd_block_splits_it_and_copies_one_page()
    {
        using var world = new World(arenaBytes: 8 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmd);
        mm.Madvise(Base, Pmd, MadviseAdvice.HugePage);
        Assert.Equal(FaultKind.HugeZeroPage, mm.HandleFault(Base, FaultAccess.Read).Kind);

        List<Folio> hog = TakeEverything(world.Arena);
        var keep = new List<Folio>();
        foreach (Folio folio in hog)
        {
            if (folio.Pfn % 512 == 7)
                keep.Add(folio);
            else
                world.Arena.Free(folio);
        }

        // do_huge_zero_wp_pmd finds no PMD-sized folio: the PMD becomes 512 zero-page PTEs and the
        // fault goes on at the PTE level, where the write to a zero-page PTE copies one page
        // (wp_page_copy: order 0, whatever the mTHP settings).
        Assert.Equal(new FaultResult(FaultKind.CopyOnWrite, Fallbacks: 1, OrdersTried: (1u << 9) | 1), mm.HandleFault(Base + 0x5000, FaultAccess.Write));
        Assert.Equal(1, world.Event(VmEvent.ThpSplitPmd));
        Assert.Equal(1, world.Event(VmEvent.ThpFaultFallback));
        Assert.Equal(1, world.Stat(9, MthpStatItem.AnonFaultFallback));
        Assert.Equal(0, world.Stat(4, MthpStatItem.AnonFaultAlloc));
        Assert.Equal("0x40000000 5 zero\n0x40005000 1 o0\n0x40006000 506 zero\nend\n", mm.FormatLayout());
        Assert.Equal(1, mm.AnonPages);
        world.Machine.Validate();

        foreach (Folio folio in keep)
            world.Arena.Free(folio);
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Address_spaces_share_the_machine_counters_and_the_shrinker()
    {
        using var testMachine = new TestMachine(64 * MiB);
        Machine machine = testMachine.Machine;
        using AddressSpace first = machine.CreateAddressSpace();
        using AddressSpace second = machine.CreateAddressSpace();
        Assert.Equal(2, machine.AddressSpaceCount);
        machine.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        foreach (AddressSpace mm in new[] { first, second })
        {
            mm.Mmap(Base, Pmd);
            for (ulong va = Base; va < Base + 0x40000; va += Page)
                mm.Write(va);
            mm.Munmap(Base + 0x8000, Page);     // each space leaves one folio partly mapped
        }

        Assert.Equal(8, machine.MthpStats.Get(4, MthpStatItem.NrAnon));
        Assert.Equal(2, machine.MthpStats.Get(4, MthpStatItem.NrAnonPartiallyMapped));
        Assert.Equal(2, machine.DeferredSplitQueue.Length);
        Assert.Throws<InvalidOperationException>(() => machine.Dispose());
        machine.Validate();

        Assert.Equal(2, machine.ShrinkDeferredSplit());
        Assert.Equal(6, machine.MthpStats.Get(4, MthpStatItem.NrAnon));
        Assert.Equal(0, machine.DeferredSplitQueue.Length);
        Assert.Equal(63, first.AnonPages);
        Assert.Equal(63, second.AnonPages);
        machine.Validate();

        // One address space gone: its folios are freed, the other's untouched.
        first.Dispose();
        Assert.Equal(1, machine.AddressSpaceCount);
        Assert.Equal(3, machine.MthpStats.Get(4, MthpStatItem.NrAnon));
        machine.Validate();
        second.Dispose();
        testMachine.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ order fallback

    [Fact]
    public void Fragmented_arena_falls_back_from_64k_to_16k()
    {
        using var world = new World(arenaBytes: 8 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmd);

        // Free the first four pages of every aligned 16-page block: order-2 blocks, never order 4.
        List<Folio> hog = TakeEverything(world.Arena);
        var keep = new List<Folio>();
        foreach (Folio folio in hog)
        {
            if (folio.Pfn % 16 < 4)
                world.Arena.Free(folio);
            else
                keep.Add(folio);
        }

        world.Arena.DrainPerCpuCaches();
        BuddyInfo info = world.Arena.GetBuddyInfo();
        for (int order = 3; order <= info.MaxOrder; order++)
            Assert.Equal(0, info.FreeBlocks(order));
        Assert.True(info.FreeBlocks(2) > 8, info.ToString());

        FaultResult result = mm.HandleFault(Base + 0x25000, FaultAccess.Write);
        Assert.Equal(new FaultResult(FaultKind.Folio, 2, 1, OrdersTried: (1u << 4) | (1u << 2)), result);
        Assert.Equal(1, world.Stat(4, MthpStatItem.AnonFaultFallback));
        Assert.Equal(0, world.Stat(2, MthpStatItem.AnonFaultFallback));
        Assert.Equal(1, world.Stat(2, MthpStatItem.AnonFaultAlloc));
        Assert.Equal(0, world.Stat(4, MthpStatItem.AnonFaultAlloc));
        Assert.Equal(1, world.Stat(2, MthpStatItem.NrAnon));
        Assert.Equal("0x40024000 4 o2\nend\n", mm.FormatLayout());
        Assert.Equal(4, mm.AnonPages);
        world.Machine.Validate();

        // With 32 KiB enabled too, each fault gives up on two orders before 16 KiB.
        world.Policy.SetSizeEnabled(3, ThpSizeEnabled.Always);
        result = mm.HandleFault(Base + 0x40000, FaultAccess.Write);
        Assert.Equal(new FaultResult(FaultKind.Folio, 2, 2, OrdersTried: (1u << 4) | (1u << 3) | (1u << 2)), result);
        Assert.Equal(2, world.Stat(4, MthpStatItem.AnonFaultFallback));
        Assert.Equal(1, world.Stat(3, MthpStatItem.AnonFaultFallback));

        // Free memory back to whole blocks: the next fault in an empty range gets 64 KiB again.
        foreach (Folio folio in keep)
            world.Arena.Free(folio);
        result = mm.HandleFault(Base + 0x80000, FaultAccess.Write);
        Assert.Equal(new FaultResult(FaultKind.Folio, 4, 0, OrdersTried: 1u << 4), result);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Order_selection_takes_the_highest_order_whose_range_is_in_the_vma_and_none()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        for (int order = 2; order <= 8; order++)
            world.Policy.SetSizeEnabled(order, ThpSizeEnabled.Always);

        // A VMA of 0x40010000..0x40050000: the 256 KiB range around 0x40040000 leaves it, 64 KiB fits.
        mm.Mmap(Base + 0x10000, 0x40000);
        Assert.Equal(new FaultResult(FaultKind.Folio, 4, 0, OrdersTried: 1u << 4), mm.HandleFault(Base + 0x45000, FaultAccess.Write));
        // 0x40020000..0x40040000 is 128 KiB, aligned and inside the VMA.
        Assert.Equal(new FaultResult(FaultKind.Folio, 5, 0, OrdersTried: 1u << 5), mm.HandleFault(Base + 0x2f000, FaultAccess.Write));
        // A zero-page PTE at 0x40011000 makes every order's range around 0x40012000 not none: order 0.
        mm.Read(Base + 0x11000);
        Assert.Equal(new FaultResult(FaultKind.Folio, 0, 0, OrdersTried: 1), mm.HandleFault(Base + 0x12000, FaultAccess.Write));
        // 0x40014000..0x40018000 is none: 16 KiB; 0x40018000..0x40020000 is none: 32 KiB.
        Assert.Equal(new FaultResult(FaultKind.Folio, 2, 0, OrdersTried: 1u << 2), mm.HandleFault(Base + 0x15000, FaultAccess.Write));
        Assert.Equal(new FaultResult(FaultKind.Folio, 3, 0, OrdersTried: 1u << 3), mm.HandleFault(Base + 0x1c000, FaultAccess.Write));
        // The one page left, 0x40010000: order 0 (every larger range holds the zero page).
        Assert.Equal(new FaultResult(FaultKind.Folio, 0, 0, OrdersTried: 1), mm.HandleFault(Base + 0x10000, FaultAccess.Write));
        Assert.Equal(
            "0x40010000 1 o0\n0x40011000 1 zero\n0x40012000 1 o0\n0x40014000 4 o2\n0x40018000 8 o3\n0x40020000 32 o5\n0x40040000 16 o4\nend\n",
            mm.FormatLayout());
        world.Machine.Validate();
    }

    // ------------------------------------------------------------------ zeroing

    /// <summary>Allocates the whole arena, fills it with 0xAA, and frees it again.</summary>
    private static Arena Dirty(Arena arena)
    {
        var all = new List<Folio>();
        while (arena.TryAllocate(0, out Folio folio))
            all.Add(folio);
        foreach (Folio folio in all)
            folio.AsSpan().Fill(0xAA);
        foreach (Folio folio in all)
            arena.Free(folio);
        return arena;
    }

    private static unsafe ReadOnlySpan<byte> PageBytes(Arena arena, ulong pfn) =>
        new(arena.PfnToAddress((uint)pfn), (int)Page);

    [Fact]
    public void Write_faults_hand_out_zeroed_memory_even_when_the_arena_was_dirty()
    {
        // Dirtied before the machine takes its zero page, so that page must be zeroed too.
        using var world = new World(new TestMachine(Dirty(new Arena(8 * MiB, options: new ArenaOptions { MetadataOnly = false }))));
        Arena arena = world.Arena;
        Machine machine = world.Machine;
        AddressSpace mm = world.Mm;
        Assert.True(PageBytes(arena, machine.ZeroPfn).IndexOfAnyExcept((byte)0) < 0, "the zero page is not zero");
        machine.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, 2 * Pmd);
        mm.Madvise(Base + Pmd, Pmd, MadviseAdvice.HugePage);

        // A 64 KiB folio.
        ulong address = Base + 0x13456;
        Assert.Equal(new FaultResult(FaultKind.Folio, 4, 0, OrdersTried: 1u << 4), mm.HandleFault(address, FaultAccess.Write));
        mm.Write(address, 0x5a);
        AssertZeroExcept(arena, mm, Base + 0x10000, 16, address, 0x5a);

        // An order-0 copy of the zero page.
        mm.Read(Base + 0x40000);
        Assert.Equal(FaultKind.CopyOnWrite, mm.HandleFault(Base + 0x40000, FaultAccess.Write).Kind);
        mm.Write(Base + 0x40fff, 0x77);
        AssertZeroExcept(arena, mm, Base + 0x40000, 1, Base + 0x40fff, 0x77);

        // A PMD THP.
        address = Base + Pmd + 0x1234;
        mm.Write(address, 0x33);
        Assert.Equal(FaultKind.AlreadyMapped, mm.HandleFault(address, FaultAccess.Write).Kind);
        Assert.Equal(1, machine.MthpStats.Get(9, MthpStatItem.AnonFaultAlloc));
        AssertZeroExcept(arena, mm, Base + Pmd, 512, address, 0x33);

        // Through the load path too.
        Assert.Equal(0x33, mm.Read(address));
        Assert.Equal(0, mm.Read(address + 1));
        Assert.Equal(0, mm.Read(Base + Pmd + Pmd - 1));
        Assert.Equal(0x5a, mm.Read(Base + 0x13456));
        Assert.Equal(0, mm.Read(Base + 0x1f000));
        machine.Validate();
    }

    private static void AssertZeroExcept(Arena arena, AddressSpace mm, ulong start, int pages, ulong written, byte value)
    {
        for (int i = 0; i < pages; i++)
        {
            ulong va = start + ((ulong)i * Page);
            Pte pte = mm.Translate(va);
            Assert.True(pte.IsPresent && !pte.IsSpecial, $"0x{va:x} maps {pte}");
            ReadOnlySpan<byte> bytes = PageBytes(arena, pte.Pfn);
            for (int b = 0; b < bytes.Length; b++)
            {
                ulong at = va + (ulong)b;
                byte expected = at == written ? value : (byte)0;
                if (bytes[b] != expected)
                    Assert.Fail($"byte at 0x{at:x} is 0x{bytes[b]:x2}; expected 0x{expected:x2}");
            }
        }
    }

    // ------------------------------------------------------------------ spurious faults

    [Fact]
    public void Refault_of_a_mapped_page_is_already_mapped_and_changes_nothing()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, 2 * Pmd);
        mm.Madvise(Base + Pmd, Pmd, MadviseAdvice.HugePage);

        Assert.Equal(new FaultResult(FaultKind.Folio, 4, 0, OrdersTried: 1u << 4), mm.HandleFault(Base + 0x3000, FaultAccess.Write));
        Assert.Equal(new FaultResult(FaultKind.ZeroPage), mm.HandleFault(Base + 0x20000, FaultAccess.Read));
        Assert.Equal(new FaultResult(FaultKind.PmdFolio, 9, 0, OrdersTried: 1u << 9), mm.HandleFault(Base + Pmd + 0x3000, FaultAccess.Write));
        MachineState before = MachineState.Of(world);
        long spurious = world.Event(VmEvent.SpuriousFault);

        var refaults = new (ulong Address, FaultAccess Access)[]
        {
            (Base + 0x3000, FaultAccess.Write),
            (Base + 0x3000, FaultAccess.Read),
            (Base + 0xf000, FaultAccess.Write),           // another page of the 64 KiB folio
            (Base + 0x20000, FaultAccess.Read),           // the zero page, read again
            (Base + Pmd, FaultAccess.Write),               // the PMD THP
            (Base + Pmd + 0x1ff000, FaultAccess.Read),
        };
        foreach (var (address, access) in refaults)
            Assert.Equal(new FaultResult(FaultKind.AlreadyMapped), mm.HandleFault(address, access));

        Assert.Equal(before, MachineState.Of(world));
        Assert.Equal(spurious + refaults.Length, world.Event(VmEvent.SpuriousFault));

        // A write to the zero page is not spurious: copy on write, order 0.
        Assert.Equal(new FaultResult(FaultKind.CopyOnWrite, OrdersTried: 1), mm.HandleFault(Base + 0x20000, FaultAccess.Write));
        Assert.Equal(new FaultResult(FaultKind.AlreadyMapped), mm.HandleFault(Base + 0x20000, FaultAccess.Write));
        world.Machine.Validate();
    }

    [Fact]
    public void Write_to_the_huge_zero_page_maps_a_pmd_thp()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, Pmd);
        mm.Madvise(Base, Pmd, MadviseAdvice.HugePage);
        Assert.Equal(new FaultResult(FaultKind.HugeZeroPage, 9), mm.HandleFault(Base + 0x5000, FaultAccess.Read));
        Assert.NotNull(world.Machine.HugeZeroFolio);
        Assert.Equal(new FaultResult(FaultKind.AlreadyMapped), mm.HandleFault(Base + 0x6000, FaultAccess.Read));
        Assert.Equal(0, mm.AnonPages);
        Assert.Equal(new FaultResult(FaultKind.PmdFolio, 9, OrdersTried: 1u << 9), mm.HandleFault(Base + 0x7000, FaultAccess.Write));
        Assert.Equal(512, mm.AnonPages);
        Assert.Equal("0x40000000 512 o9\nend\n", mm.FormatLayout());
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }
}
