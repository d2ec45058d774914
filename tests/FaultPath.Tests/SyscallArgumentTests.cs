using System;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// What mmap, munmap and madvise make of their arguments, as Linux does: lengths rounded up to
/// whole pages, a zero-length madvise that succeeds doing nothing, and flags that contradict each
/// other refused before anything changes.
/// </summary>
public sealed class SyscallArgumentTests
{
    [Fact]
    public void A_MAP_FIXED_with_contradicting_flags_is_refused_and_leaves_the_old_mapping_as_it_was()
    {
        using var world = new World(metadataOnly: false);
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, 2 << 20);
        mm.Write(Base, 5);
        string layout = mm.FormatLayout();
        Assert.Throws<ArgumentException>(() => mm.Mmap(Base, 2 << 20, VmaFlags.Read | VmaFlags.Write | VmaFlags.HugePage | VmaFlags.NoHugePage));
        Assert.Equal(5, mm.Read(Base));
        Assert.Equal(layout, mm.FormatLayout());
        world.Machine.Validate();
    }

    /// <summary>madvise, munmap and mmap round a length up to whole pages (PAGE_ALIGN); madvise of length 0 does nothing and succeeds.</summary>
    [Fact]
    public void Mmap_munmap_and_madvise_round_lengths_up_to_whole_pages_and_a_zero_length_madvise_does_nothing()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        mm.Mmap(Base, (2 << 20) - 100);
        Assert.Equal(Base + (2 << 20), mm.Vmas.ToArray()[0].End);
        mm.Write(Base);
        mm.Write(Base + 0x1000);
        Assert.True(mm.Madvise(Base, 0, MadviseAdvice.DontNeed));
        Assert.Equal(2, mm.AnonPages);
        Assert.True(mm.Madvise(Base, 100, MadviseAdvice.DontNeed));
        Assert.Equal("0x40001000 1 o0\nend\n", mm.FormatLayout());
        mm.Munmap(Base + 0x1000, 1);
        Assert.Equal("end\n", mm.FormatLayout());
        world.Machine.Validate();
    }
}
