using System;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// MADV_POPULATE_READ / MADV_POPULATE_WRITE: faulting a range in must leave exactly what touching
/// each page in address order leaves (layout, counters), since Linux's populate takes the same
/// faults; it stops at a hole (-ENOMEM) and refuses a VMA without the access (-EFAULT).
/// </summary>
public sealed class PopulateTests
{
    public static TheoryData<int, bool, bool> Cases()
    {
        var data = new TheoryData<int, bool, bool>();
        foreach (int order in new[] { 0, 2, 4, 7, 9 })
        {
            foreach (bool write in new[] { false, true })
            {
                data.Add(order, write, false);
                data.Add(order, write, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Populate_leaves_what_touching_every_page_leaves(int order, bool write, bool prefilled)
    {
        string Run(bool populate)
        {
            using var world = new World();
            Machine machine = world.Machine;
            AddressSpace mm = world.Mm;
            for (int o = 2; o <= 9; o++)
                machine.Policy.SetSizeEnabled(o, o == order ? ThpSizeEnabled.Always : ThpSizeEnabled.Never);
            // A VMA that starts and ends off every large alignment, so orders are limited at its edges.
            mm.Mmap(Base + 0x3000, (6UL << 20) - 0x5000);
            if (prefilled)
            {
                mm.Write(Base + 0x21000);
                mm.Read(Base + 0x40_0000);
                mm.Read(Base + 0x44_5000);
            }

            ulong start = Base + 0x3000;
            ulong end = Base + (6UL << 20) - 0x2000;
            if (populate)
                Assert.True(mm.Madvise(start, end - start, write ? MadviseAdvice.PopulateWrite : MadviseAdvice.PopulateRead));
            else
            {
                for (ulong a = start; a < end; a += 0x1000)
                {
                    if (write)
                        mm.Write(a, 0);
                    else
                        mm.Read(a);
                }
            }

            machine.Validate();
            return mm.FormatLayout() + machine.MthpStats.Format() + $"anon {mm.AnonPages} tables {mm.PageTablePages} "
                + $"zero {machine.Events.Get(VmEvent.ZeroPageFault)} hugezero {machine.Events.Get(VmEvent.HugeZeroPageFault)} "
                + $"folio {machine.Events.Get(VmEvent.AnonFolioFault)} pmd {machine.Events.Get(VmEvent.PmdFolioFault)} cow {machine.Events.Get(VmEvent.CowFault)}";
        }

        Assert.Equal(Run(populate: false), Run(populate: true));
    }

    [Fact]
    public void Populate_stops_at_a_hole_and_reports_it()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, 0x4000);
        mm.Mmap(Base + 0x8000, 0x4000);
        Assert.False(mm.Madvise(Base, 0xc000, MadviseAdvice.PopulateWrite));
        Assert.Equal(4, mm.AnonPages);
        Assert.True(mm.Translate(Base + 0x8000).IsNone);
        world.Machine.Validate();
    }

    [Fact]
    public void Populate_write_of_a_read_only_VMA_is_refused()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, 0x4000, VmaFlags.Read);
        var error = Assert.Throws<SyscallException>(() => mm.Madvise(Base, 0x4000, MadviseAdvice.PopulateWrite));
        Assert.Contains("0x40000000", error.Message, StringComparison.Ordinal);
        Assert.Equal(Errno.EINVAL, error.Errno);   // check_vma_flags' -EFAULT becomes -EINVAL for MADV_POPULATE
        Assert.Equal(0, mm.AnonPages);
        Assert.True(mm.Madvise(Base, 0x4000, MadviseAdvice.PopulateRead));
        Assert.Equal(FaultKind.AlreadyMapped, mm.HandleFault(Base + 0x3000, FaultAccess.Read).Kind);
        world.Machine.Validate();
    }

    /// <summary>
    /// GUP's check_vma_flags: populating for reading needs VM_READ (no FOLL_FORCE), though a plain
    /// read fault of a write-only VMA is allowed.
    /// </summary>
    [Fact]
    public void Populate_read_of_a_write_only_VMA_is_refused_though_a_read_fault_of_it_is_allowed()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, 2 << 20, VmaFlags.Write);
        Assert.Equal(Errno.EINVAL, Assert.Throws<SyscallException>(() => mm.Madvise(Base, 16 << 10, MadviseAdvice.PopulateRead)).Errno);
        Assert.Equal("end\n", mm.FormatLayout());
        Assert.Equal(FaultKind.ZeroPage, mm.HandleFault(Base, FaultAccess.Read).Kind);
        world.Machine.Validate();
    }
}
