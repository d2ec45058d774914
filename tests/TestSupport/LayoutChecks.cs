using System.Collections.Generic;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.TestSupport;

/// <summary>Checks of an address space's layout against its page tables and the arena.</summary>
public static class LayoutChecks
{
    private const ulong Page = PageGeometry.PageSize;

    /// <summary>The orders of the folio runs in [start, start + length), in address order (zero runs skipped).</summary>
    public static List<int> FolioOrders(AddressSpace mm, ulong start, ulong length) =>
        mm.GetLayout()
            .Where(r => !r.IsZero && r.Address >= start && r.Address < start + length)
            .Select(r => r.Order)
            .ToList();

    /// <summary>
    /// Every run of <see cref="AddressSpace.GetLayout"/> agrees with <see cref="AddressSpace.Translate"/>
    /// page by page; every page of the VMAs outside the runs translates to none; no folio page is
    /// mapped twice; folio runs name the order the arena gives the folio; the resident folio pages
    /// add up to <see cref="AddressSpace.AnonPages"/>.
    /// </summary>
    public static void TranslateAgreesWithLayout(Machine machine, AddressSpace mm)
    {
        IReadOnlyList<LayoutRun> runs = mm.GetLayout();
        var covered = new Dictionary<ulong, LayoutRun>();
        var pfns = new HashSet<ulong>();
        long anon = 0;
        ulong previousEnd = 0;
        uint hugeZero = machine.HugeZeroFolio is { } hz ? hz.Pfn : uint.MaxValue;
        foreach (LayoutRun run in runs)
        {
            Assert.True(run.Pages > 0, $"empty run {run}");
            Assert.True(run.Address >= previousEnd, $"run {run} overlaps or precedes the run before it");
            previousEnd = run.Address + ((ulong)run.Pages * Page);
            for (long i = 0; i < run.Pages; i++)
            {
                ulong va = run.Address + ((ulong)i * Page);
                covered.Add(va, run);
                Pte pte = mm.Translate(va);
                Assert.True(pte.IsPresent, $"0x{va:x} is in run {run} but translates to {pte}");
                if (run.IsZero)
                {
                    Assert.True(pte.IsSpecial, $"0x{va:x} is in zero run {run} but maps {pte}");
                    Assert.False(pte.IsWritable, $"the zero page is mapped writable at 0x{va:x}");
                    bool small = pte.Pfn == machine.ZeroPfn;
                    bool huge = pte.Pfn == hugeZero + ((va >> 12) & 511);
                    Assert.True(small || huge, $"0x{va:x} in zero run maps PFN 0x{pte.Pfn:x}, neither zero page");
                }
                else
                {
                    Assert.False(pte.IsSpecial, $"0x{va:x} is in folio run {run} but maps {pte}");
                    Assert.Equal(run.Pfn + (ulong)i, pte.Pfn);
                    Assert.True(pte.IsWritable, $"folio page at 0x{va:x} is not writable");
                    Assert.True(pfns.Add(pte.Pfn), $"PFN 0x{pte.Pfn:x} is mapped twice");
                    Assert.Equal(run.Order, machine.Arena.FolioOf((uint)pte.Pfn).Order);
                    anon++;
                }
            }
        }

        foreach (Vma vma in MachineState.VmaList(mm))
        {
            for (ulong va = vma.Start; va < vma.End; va += Page)
            {
                if (!covered.ContainsKey(va))
                    Assert.True(mm.Translate(va).IsNone, $"0x{va:x} maps {mm.Translate(va)} but no run covers it");
            }
        }

        Assert.Equal(anon, mm.AnonPages);
    }
}
