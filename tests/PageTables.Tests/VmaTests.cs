using Xunit;
using static LargeFolios.PageTables.Tests.VmaTestHelpers;

namespace LargeFolios.PageTables.Tests;

/// <summary>The VMA value and its flags: Linux's bit positions, the exclusive end, value equality.</summary>
public class VmaTests
{
    [Fact]
    public void Flags_sit_at_linux_positions_and_anonymous_at_a_bit_linux_leaves_unused()
    {
        Assert.Equal(0x1UL, (ulong)VmaFlags.Read);
        Assert.Equal(0x2UL, (ulong)VmaFlags.Write);
        Assert.Equal(0x4UL, (ulong)VmaFlags.Exec);
        Assert.Equal(0x8UL, (ulong)VmaFlags.Shared);
        Assert.Equal(0x2000_0000UL, (ulong)VmaFlags.HugePage);
        Assert.Equal(0x4000_0000UL, (ulong)VmaFlags.NoHugePage);
        Assert.Equal(1UL << 62, (ulong)VmaFlags.Anonymous);
    }

    [Fact]
    public void The_end_is_exclusive()
    {
        Vma vma = V(0x10000, 0x13000, RwHuge);
        Assert.Equal(0x3000UL, vma.Length);
        Assert.True(vma.Contains(0x10000));
        Assert.True(vma.Contains(0x12fff));
        Assert.False(vma.Contains(0x13000));
        Assert.False(vma.Contains(0xffff));
        Assert.True(vma.IsAnonymous);
        Assert.False(V(0x10000, 0x11000, VmaFlags.Read).IsAnonymous);
    }

    [Fact]
    public void Vmas_are_equal_when_range_and_flags_are()
    {
        Assert.Equal(V(0x10000, 0x11000, Rw), V(0x10000, 0x11000, Rw));
        Assert.True(V(0x10000, 0x11000, Rw) == V(0x10000, 0x11000, Rw));
        Assert.True(V(0x10000, 0x11000, Rw) != V(0x10000, 0x11000, R));
        Assert.NotEqual(V(0x10000, 0x11000, Rw), V(0x10000, 0x12000, Rw));
        Assert.Equal(V(0x10000, 0x11000, Rw).GetHashCode(), V(0x10000, 0x11000, Rw).GetHashCode());
        Assert.Equal("0x10000-0x11000 Read, Write, Account, Anonymous", V(0x10000, 0x11000, Rw).ToString());
        Assert.NotEqual(V(0x10000, 0x11000, Rw), new Vma(0x10000, 0x11000, Rw | VmaFlags.Account, 0x11, 0, false));   // another page offset
        Assert.Equal("0x10000-0x11000 Read, Write, Account, Anonymous pgoff 0x11 anon_vma 3 (forked)", new Vma(0x10000, 0x11000, Rw | VmaFlags.Account, 0x11, 3, true).ToString());
    }
}
