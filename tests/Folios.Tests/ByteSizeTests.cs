using LargeFolios.Folios.Cli;
using Xunit;

namespace LargeFolios.Folios.Tests;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("4096", 4096)]
    [InlineData("64K", 64L << 10)]
    [InlineData("64k", 64L << 10)]
    [InlineData("64kB", 64L << 10)]
    [InlineData("64KiB", 64L << 10)]
    [InlineData("256M", 256L << 20)]
    [InlineData("2g", 2L << 30)]
    [InlineData("1T", 1L << 40)]
    [InlineData("0x1000", 4096)]
    [InlineData("0x1B", 27)]
    [InlineData("0x10M", 16L << 20)]
    [InlineData(" 8M ", 8L << 20)]
    public void Sizes_parse_in_powers_of_1024(string text, long bytes)
    {
        Assert.True(ByteSize.TryParse(text, out long parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("12Q")]
    [InlineData("-4K")]
    [InlineData("4.5M")]
    [InlineData("K")]
    [InlineData("0x")]
    [InlineData("99999999999T")]
    public void Anything_else_is_refused(string text) => Assert.False(ByteSize.TryParse(text, out _));

    [Theory]
    [InlineData(4096, "4K")]
    [InlineData(768L << 20, "768M")]
    [InlineData(1L << 30, "1G")]
    [InlineData(6000, "6000")]
    [InlineData(0, "0")]
    public void Sizes_print_in_the_largest_exact_unit(long bytes, string text) => Assert.Equal(text, ByteSize.Format(bytes));

    [Theory]
    [InlineData(16L << 20, "16M")]
    [InlineData(73736L << 20, "72.0G")]
    [InlineData((1L << 40) + (1L << 39), "1536G")]
    [InlineData((1L << 40) + (1L << 30) + 1, "1.0T")]
    [InlineData(24684092L << 10, "23.5G")]
    public void Rounded_sizes_stay_short(long bytes, string text) => Assert.Equal(text, ByteSize.FormatRounded(bytes));
}
