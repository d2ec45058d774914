using System.Collections.Generic;
using System.IO;
using System.Linq;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

public class ScenarioReaderTests
{
    // The design example (docs/scenario-format.md), as written there.
    private const string DesignExample = """
        thp 16kB madvise
        thp 128kB madvise
        mmap 0x40000000 4M
        madvise 0x40000000 4M nohugepage
        write 0x40005000
        madvise 0x40000000 4M hugepage
        write 0x40003000
        write 0x40028000
        read 0x40200000
        dump
        write 0x40201000
        dump
        """;

    private static List<ScenarioCommand> Parse(string text) => ScenarioReader.Read(new StringReader(text), "test.scn").ToList();

    [Fact]
    public void The_design_example_parses_command_by_command()
    {
        var commands = Parse(DesignExample);
        Assert.Equal(
            [
                new ScenarioCommand(ScenarioVerb.ThpSize, 1, Order: 2, Text: "madvise"),
                new ScenarioCommand(ScenarioVerb.ThpSize, 2, Order: 5, Text: "madvise"),
                new ScenarioCommand(ScenarioVerb.Mmap, 3, Address: 0x40000000, Length: 4 << 20),
                new ScenarioCommand(ScenarioVerb.Madvise, 4, Address: 0x40000000, Length: 4 << 20, Advice: MadviseAdvice.NoHugePage),
                new ScenarioCommand(ScenarioVerb.Write, 5, Address: 0x40005000),
                new ScenarioCommand(ScenarioVerb.Madvise, 6, Address: 0x40000000, Length: 4 << 20, Advice: MadviseAdvice.HugePage),
                new ScenarioCommand(ScenarioVerb.Write, 7, Address: 0x40003000),
                new ScenarioCommand(ScenarioVerb.Write, 8, Address: 0x40028000),
                new ScenarioCommand(ScenarioVerb.Read, 9, Address: 0x40200000),
                new ScenarioCommand(ScenarioVerb.Dump, 10),
                new ScenarioCommand(ScenarioVerb.Write, 11, Address: 0x40201000),
                new ScenarioCommand(ScenarioVerb.Dump, 12),
            ],
            commands);
    }

    [Fact]
    public void Comments_blank_lines_and_the_other_verbs()
    {
        var commands = Parse("# a comment\n\n   thp enabled always   # trailing\nmunmap 0x1000 8K\nmadvise 0 1G dontneed\nmadvise 0x200000 2M free\nstats\n");
        Assert.Equal(
            [
                new ScenarioCommand(ScenarioVerb.ThpEnabled, 3, Text: "always"),
                new ScenarioCommand(ScenarioVerb.Munmap, 4, Address: 0x1000, Length: 8192),
                new ScenarioCommand(ScenarioVerb.Madvise, 5, Address: 0, Length: 1UL << 30, Advice: MadviseAdvice.DontNeed),
                new ScenarioCommand(ScenarioVerb.Madvise, 6, Address: 0x200000, Length: 2UL << 20, Advice: MadviseAdvice.Free),
                new ScenarioCommand(ScenarioVerb.Stats, 7),
            ],
            commands);
    }

    [Theory]
    [InlineData("4096", 4096UL)]
    [InlineData("0x40000000", 0x40000000UL)]
    [InlineData("0xffK", 0xffUL << 10)]
    [InlineData("4M", 4UL << 20)]
    [InlineData("3G", 3UL << 30)]
    [InlineData("0x7fffffffffff", 0x7fffffffffffUL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("17179869183G", 17179869183UL << 30)]
    public void Numbers_are_decimal_or_hex_with_binary_suffixes(string text, ulong expected)
    {
        Assert.True(ScenarioReader.TryParseNumber(text, out ulong value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("-1")]
    [InlineData("4k")]
    [InlineData("4KB")]
    [InlineData("0X10")]
    [InlineData("1.5M")]
    [InlineData("17179869184G")]
    [InlineData("18446744073709551616")]
    public void Not_numbers(string text) => Assert.False(ScenarioReader.TryParseNumber(text, out _));

    [Theory]
    [InlineData("jump 0x1000", "unknown command \"jump\"")]
    [InlineData("mmap 0x1000", "\"mmap\" takes 2 arguments, got 1")]
    [InlineData("write", "\"write\" takes 1 argument, got 0")]
    [InlineData("dump now", "\"dump\" takes 0 arguments, got 1")]
    [InlineData("mmap 0x1000 lots", "\"lots\" is not a valid length")]
    [InlineData("read 0xg000", "\"0xg000\" is not a valid address")]
    [InlineData("madvise 0 4K cold", "\"cold\" is not an advice")]
    [InlineData("thp 8kB always", "order 1")]
    [InlineData("thp 4096kB always", "16kB to 2048kB")]
    [InlineData("thp 64kB sometimes", "expected always, inherit, madvise or never")]
    [InlineData("thp enabled inherit", "expected always, madvise or never")]
    public void A_malformed_line_names_the_file_the_line_and_what_was_expected(string bad, string expected)
    {
        var error = Assert.Throws<ScenarioSyntaxException>(() => Parse($"mmap 0 4K\n# fine so far\n{bad}\n"));
        Assert.Equal("test.scn", error.File);
        Assert.Equal(3, error.Line);
        Assert.StartsWith("test.scn:3: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Lines_before_a_malformed_one_are_handed_out_and_none_after_it()
    {
        var seen = new List<ScenarioCommand>();
        var error = Assert.Throws<ScenarioSyntaxException>(() =>
        {
            foreach (ScenarioCommand command in ScenarioReader.Read(new StringReader("mmap 0 4K\nwrite 0\nwrite\nwrite 0x1000\n"), "s"))
                seen.Add(command);
        });
        Assert.Equal(3, error.Line);
        Assert.Equal([ScenarioVerb.Mmap, ScenarioVerb.Write], seen.Select(c => c.Verb));
    }
}
