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
    [InlineData("mmap 0x1000", "\"mmap\" takes 2 or 3 arguments, got 1")]
    [InlineData("write", "\"write\" takes 1 argument, got 0")]
    [InlineData("dump now", "\"dump\" takes 0 arguments, got 1")]
    [InlineData("mmap 0x1000 lots", "\"lots\" is not a valid length")]
    [InlineData("read 0xg000", "\"0xg000\" is not a valid address")]
    [InlineData("madvise 0 4K cold", "\"cold\" is not an advice")]
    [InlineData("thp 8kB always", "order 1")]
    [InlineData("thp 4096kB always", "16kB to 2048kB")]
    [InlineData("thp 64kB sometimes", "expected always, inherit, madvise or never")]
    [InlineData("thp enabled inherit", "expected always, madvise or never")]
    [InlineData("mmap 0 4K w", "\"w\" is not a protection; expected rw, r or none")]
    [InlineData("mprotect 0 4K rwx", "\"rwx\" is not a protection")]
    [InlineData("mprotect 0 4K", "\"mprotect\" takes 3 arguments, got 2")]
    [InlineData("mremap 0 4K", "\"mremap\" takes 3 or 4 arguments, got 2")]
    [InlineData("mremap 0 4K 8K 0x1000 0x2000", "\"mremap\" takes 3 or 4 arguments, got 5")]
    [InlineData("mremap 0 4K big", "\"big\" is not a valid length")]
    [InlineData("process one", "\"one\" is not a process id")]
    [InlineData("process 1024", "\"1024\" is not a process id; expected a decimal number below 1024")]
    [InlineData("process 1", "process 1 does not exist; expected a live process (process 0)")]
    [InlineData("exit", "process 0 is the last one alive")]
    [InlineData("fork 1", "\"fork\" takes 0 arguments, got 1")]
    [InlineData("thp khugepaged/max_ptes_none 512", "\"512\" is not a value of khugepaged/max_ptes_none; expected a decimal number from 0 to 511")]
    [InlineData("thp khugepaged/max_ptes_shared -1", "expected a decimal number from 0 to 511")]
    [InlineData("thp use_zero_page 2", "\"2\" is not a value of use_zero_page; expected 0 or 1")]
    [InlineData("thp shrink_underused yes", "expected 0 or 1")]
    [InlineData("thp defrag sometimes", "expected always, defer, defer+madvise, madvise or never")]
    [InlineData("thp khugepaged/scan_sleep_millisecs 10", "\"khugepaged/scan_sleep_millisecs\" is not a THP file")]
    [InlineData("madvise 0 4K mergeable", "expected hugepage, nohugepage, dontneed, free, populate_read, populate_write, collapse, dontfork, dofork, wipeonfork or keeponfork")]
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

    [Fact]
    public void The_commands_of_processes_protections_moves_and_knobs()
    {
        var commands = Parse("""
            thp use_zero_page 0
            thp khugepaged/max_ptes_none 64
            thp defrag defer+madvise
            mmap 0x40000000 2M r
            mmap 0x40200000 2M none
            mmap 0x40400000 2M rw
            mprotect 0x40000000 4K rw
            mremap 0x40000000 2M 4M
            mremap 0x40000000 2M 2M 0x80000000
            madvise 0x40000000 2M collapse
            madvise 0x40000000 2M wipeonfork
            fork
            fork
            process 1
            exit
            process 0
            process 2
            """);
        Assert.Equal(
            [
                new ScenarioCommand(ScenarioVerb.ThpKnob, 1, Text: "0", Knob: ThpKnob.UseZeroPage),
                new ScenarioCommand(ScenarioVerb.ThpKnob, 2, Text: "64", Knob: ThpKnob.MaxPtesNone),
                new ScenarioCommand(ScenarioVerb.ThpKnob, 3, Text: "defer+madvise", Knob: ThpKnob.Defrag),
                new ScenarioCommand(ScenarioVerb.Mmap, 4, Address: 0x40000000, Length: 2 << 20, Protection: MemoryProtection.Read),
                new ScenarioCommand(ScenarioVerb.Mmap, 5, Address: 0x40200000, Length: 2 << 20, Protection: MemoryProtection.None),
                new ScenarioCommand(ScenarioVerb.Mmap, 6, Address: 0x40400000, Length: 2 << 20),
                new ScenarioCommand(ScenarioVerb.Mprotect, 7, Address: 0x40000000, Length: 4096),
                new ScenarioCommand(ScenarioVerb.Mremap, 8, Address: 0x40000000, Length: 2 << 20, NewLength: 4 << 20),
                new ScenarioCommand(ScenarioVerb.Mremap, 9, Address: 0x40000000, Length: 2 << 20, NewLength: 2 << 20, NewAddress: 0x80000000),
                new ScenarioCommand(ScenarioVerb.Madvise, 10, Address: 0x40000000, Length: 2 << 20, Advice: MadviseAdvice.Collapse),
                new ScenarioCommand(ScenarioVerb.Madvise, 11, Address: 0x40000000, Length: 2 << 20, Advice: MadviseAdvice.WipeOnFork),
                new ScenarioCommand(ScenarioVerb.Fork, 12, Process: 1),
                new ScenarioCommand(ScenarioVerb.Fork, 13, Process: 2),
                new ScenarioCommand(ScenarioVerb.Process, 14, Process: 1),
                new ScenarioCommand(ScenarioVerb.Exit, 15),
                new ScenarioCommand(ScenarioVerb.Process, 16, Process: 0),
                new ScenarioCommand(ScenarioVerb.Process, 17, Process: 2),
            ],
            commands);
    }

    [Theory]
    [InlineData("fork\nexit\nwrite 0", 3, "process 0 has exited; expected a \"process <n>\" line after \"exit\" (live: process 1)")]
    [InlineData("fork\nprocess 1\nexit\nprocess 1", 4, "process 1 has exited; expected a live process (process 0)")]
    [InlineData("fork\nfork\nprocess 3", 3, "process 3 does not exist; expected a live process (processes 0, 1, 2)")]
    [InlineData("fork\nexit\nprocess 1\nexit", 4, "process 1 is the last one alive; expected another process to exist before it exits")]
    public void Process_lines_name_live_processes_and_exit_is_followed_by_one(string text, int line, string expected)
    {
        var error = Assert.Throws<ScenarioSyntaxException>(() => Parse(text));
        Assert.Equal(line, error.Line);
        Assert.Equal($"test.scn:{line}: {expected}.", error.Message);
    }

    [Fact]
    public void A_forked_child_gets_the_next_id_never_used_and_an_exited_id_is_not_reused()
    {
        var commands = Parse("fork\nprocess 1\nexit\nprocess 0\nfork\nprocess 2\nfork\n");
        Assert.Equal([1, 2, 3], commands.Where(c => c.Verb == ScenarioVerb.Fork).Select(c => c.Process));
    }

    [Theory]
    [InlineData("mmap 0x40000000 0x200000 rw")]
    [InlineData("mprotect 0x40000000 0x1000 none")]
    [InlineData("mremap 0x40000000 0x200000 0x400000 0x80000000")]
    [InlineData("madvise 0x40000000 0x200000 populate_write")]
    [InlineData("thp khugepaged/max_ptes_swap 0")]
    [InlineData("thp 64kB inherit")]
    [InlineData("process 0")]
    [InlineData("read 0x40000010")]
    public void A_command_prints_as_the_line_it_was_read_from(string line) =>
        Assert.Equal(line, ScenarioReader.ParseLine(line, "x", 1)!.Value.ToString());
}
