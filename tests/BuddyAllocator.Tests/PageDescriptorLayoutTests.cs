using System.Runtime.CompilerServices;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>The descriptor layout is the contract with Linux's struct page/struct folio (docs/design.md section 3): pinned here.</summary>
public class PageDescriptorLayoutTests
{
    [Fact]
    public void Descriptor_is_64_bytes() => Assert.Equal(64, Unsafe.SizeOf<PageDescriptor>());

    [Theory]
    [InlineData(nameof(PageDescriptor.Flags), 0)]
    [InlineData(nameof(PageDescriptor.CompoundHead), 8)]
    [InlineData(nameof(PageDescriptor.ListNext), 16)]
    [InlineData(nameof(PageDescriptor.ListPrev), 20)]
    [InlineData(nameof(PageDescriptor.Mapping), 24)]
    [InlineData(nameof(PageDescriptor.Index), 32)]
    [InlineData(nameof(PageDescriptor.Private), 40)]
    [InlineData(nameof(PageDescriptor.Mapcount), 48)]
    [InlineData(nameof(PageDescriptor.PageTypeWord), 48)]
    [InlineData(nameof(PageDescriptor.Refcount), 52)]
    [InlineData(nameof(PageDescriptor.Spare), 56)]
    [InlineData(nameof(PageDescriptor.LargeMapcount), 16)]
    [InlineData(nameof(PageDescriptor.NrPagesMapped), 20)]
    [InlineData(nameof(PageDescriptor.EntireMapcount), 24)]
    [InlineData(nameof(PageDescriptor.Pincount), 28)]
    [InlineData(nameof(PageDescriptor.MmIdMapcount0), 32)]
    [InlineData(nameof(PageDescriptor.MmIdMapcount1), 36)]
    [InlineData(nameof(PageDescriptor.MmIds), 40)]
    [InlineData(nameof(PageDescriptor.NrPages), 56)]
    [InlineData(nameof(PageDescriptor.DeferredNext), 16)]
    [InlineData(nameof(PageDescriptor.DeferredPrev), 20)]
    [InlineData(nameof(PageDescriptor.DeferredQueue), 24)]
    public void Field_sits_at_its_linux_offset(string field, int offset) =>
        Assert.Equal(offset, (int)System.Runtime.InteropServices.Marshal.OffsetOf<PageDescriptor>(field));

    [Fact]
    public void Field_sizes_fill_their_slots()
    {
        var page = default(PageDescriptor);
        page.ListNext = uint.MaxValue;
        Assert.Equal(-1, page.LargeMapcount);
        Assert.Equal(0, page.NrPagesMapped);
        page.DeferredQueue = ulong.MaxValue;
        Assert.Equal(-1, page.EntireMapcount);
        Assert.Equal(-1, page.Pincount);
    }

    [Fact]
    public void Deferred_split_links_occupy_offsets_16_to_31_of_page_2()
    {
        var page = default(PageDescriptor);
        page.DeferredNext = 0x11111111;
        page.DeferredPrev = 0x22222222;
        page.DeferredQueue = 0x3333333333333333;
        byte[] bytes = ToBytes(page);
        for (int i = 0; i < 64; i++)
        {
            bool inLinks = i is >= 16 and < 32;
            Assert.True(inLinks == (bytes[i] != 0), $"byte {i}");
        }
    }

    [Fact]
    public void Order_lives_in_the_low_byte_of_page_1_flags()
    {
        var second = new PageDescriptor { Flags = 9 | (ulong)FolioFlags.LargeRmappable };
        Assert.Equal(9, second.FolioOrder);
        Assert.Equal(9, ToBytes(second)[0]);
    }

    [Fact]
    public void Pristine_page_is_zero_but_an_unmapped_mapcount()
    {
        byte[] bytes = ToBytes(PageDescriptor.Pristine);
        for (int i = 0; i < 64; i++)
            Assert.Equal(i is >= 48 and < 52 ? (byte)0xff : (byte)0, bytes[i]);
        Assert.False(PageDescriptor.Pristine.HasPageType);
    }

    [Fact]
    public void Tail_tag_sets_bit_0_and_keeps_the_head_pfn()
    {
        var tail = new PageDescriptor { CompoundHead = PageDescriptor.TailTag(0xabcdef) };
        Assert.True(tail.IsTail);
        Assert.Equal(0xabcdefu, tail.HeadPfn);
        Assert.Equal(1UL, tail.CompoundHead & 1);
        Assert.False(default(PageDescriptor).IsTail);
    }

    [Fact]
    public void Buddy_page_type_overlays_the_mapcount_top_byte()
    {
        var page = new PageDescriptor { PageTypeWord = (uint)PageType.Buddy << 24 };
        Assert.True(page.IsBuddy);
        Assert.True(page.HasPageType);
        Assert.Equal(0xf0, ToBytes(page)[51]);
        page.Mapcount = 5;
        Assert.False(page.HasPageType);
        Assert.False(page.IsBuddy);
    }

    private static unsafe byte[] ToBytes(PageDescriptor page) => new System.ReadOnlySpan<byte>(&page, 64).ToArray();
}
