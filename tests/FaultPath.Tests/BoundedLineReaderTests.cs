using System;
using System.Collections.Generic;
using System.IO;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

public class BoundedLineReaderTests
{
    private static List<string> ReadAll(string text, int limit, int chunk = int.MaxValue)
    {
        var reader = new BoundedLineReader(new ChunkedReader(text, chunk), limit);
        var lines = new List<string>();
        while (reader.TryReadLine(out string? line, out bool tooLong))
            lines.Add(line!);
        Assert.False(reader.TryReadLine(out _, out _));
        return lines;
    }

    [Theory]
    [InlineData("a\nb\r\nc\rd", 1)]
    [InlineData("a\nb\r\nc\rd", 3)]
    [InlineData("a\nb\r\nc\rd\n", 4096)]
    [InlineData("\n\n\r\r\n", 1)]
    [InlineData("", 2)]
    [InlineData("one line, no newline", 5)]
    public void Lines_end_as_ReadLine_ends_them_whatever_the_reads_return(string text, int chunk)
    {
        var expected = new List<string>();
        var plain = new StringReader(text);
        for (string? line = plain.ReadLine(); line != null; line = plain.ReadLine())
            expected.Add(line);
        Assert.Equal(expected, ReadAll(text, 4096, chunk));
    }

    [Fact]
    public void A_line_at_the_limit_is_read_and_one_past_it_is_refused()
    {
        Assert.Equal([new string('x', 100), "y"], ReadAll(new string('x', 100) + "\ny", 100, chunk: 7));

        var reader = new BoundedLineReader(new StringReader("ok\n" + new string('x', 101) + "\n"), 100);
        Assert.True(reader.TryReadLine(out string? first, out _));
        Assert.Equal("ok", first);
        Assert.False(reader.TryReadLine(out _, out bool tooLong));
        Assert.True(tooLong);
    }

    [Fact]
    public void An_endless_line_is_refused_after_reading_about_the_limit()
    {
        var endless = new EndlessReader();
        var reader = new BoundedLineReader(endless, 4096);
        Assert.False(reader.TryReadLine(out _, out bool tooLong));
        Assert.True(tooLong);
        Assert.InRange(endless.CharsRead, 4097, 2 * 4096 + 1);
    }

    [Fact]
    public void The_scenario_reader_names_the_line_that_is_too_long()
    {
        string text = "mmap 0x40000000 4M\n" + new string('9', ScenarioReader.MaxLineLength + 1);
        var commands = ScenarioReader.Read(new StringReader(text), "z.scenario").GetEnumerator();
        Assert.True(commands.MoveNext());
        var error = Assert.Throws<ScenarioSyntaxException>(() => commands.MoveNext());
        Assert.Equal(2, error.Line);
        Assert.StartsWith($"z.scenario:2: the line is longer than {ScenarioReader.MaxLineLength} characters", error.Message);
    }

    /// <summary>A reader whose reads return at most <c>chunk</c> characters, as a pipe's may.</summary>
    private sealed class ChunkedReader(string text, int chunk) : TextReader
    {
        private int _at;

        public override int Read(char[] buffer, int index, int count)
        {
            int n = Math.Min(Math.Min(count, chunk), text.Length - _at);
            text.CopyTo(_at, buffer, index, n);
            _at += n;
            return n;
        }
    }

    /// <summary><c>/dev/zero</c>: NULs without end.</summary>
    private sealed class EndlessReader : TextReader
    {
        public long CharsRead { get; private set; }

        public override int Read(char[] buffer, int index, int count)
        {
            Array.Clear(buffer, index, count);
            CharsRead += count;
            return count;
        }
    }
}
