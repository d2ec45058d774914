using System;
using System.IO;
using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.Fuzz.Engine;
using LargeFolios.Fuzz.Targets;
using Xunit;

namespace LargeFolios.Fuzz.Tests;

/// <summary>The harness's parts: the allowed lists, the message checks, the dictionaries, the argument split.</summary>
public class PieceTests
{
    [Fact]
    public void The_allowed_exceptions_are_the_documented_ones()
    {
        Assert.Equal([typeof(ScenarioSyntaxException), typeof(ScenarioExecutionException)], AllowedExceptions.Scenario);
        Assert.Equal("LargeFolios.Folios.TraceAnalysis.TraceFileException", Assert.Single(AllowedExceptions.Trace).FullName);
        Assert.Empty(AllowedExceptions.Cli);
        Assert.True(AllowedExceptions.IsAllowed(new ScenarioSyntaxException("x", "f", 1), AllowedExceptions.Scenario));
        Assert.False(AllowedExceptions.IsAllowed(new FormatException(), AllowedExceptions.Scenario));
    }

    [Fact]
    public void Printable_rejects_control_characters_and_echoed_tokens()
    {
        TextChecks.Printable("message", "m", "file:1: \"abc\" is not a valid address.", prefixChars: 8);
        TextChecks.Printable("output", "o", "a\nb\n", multiline: true);
        Assert.Equal("message:control", Assert.Throws<FindingException>(() => TextChecks.Printable("message", "m", "x \u001b[31m")).Id);
        Assert.Equal("message:control", Assert.Throws<FindingException>(() => TextChecks.Printable("message", "m", "a\nb")).Id);
        Assert.Equal("message:length", Assert.Throws<FindingException>(() => TextChecks.Printable("message", "m", new string('a', 2000), prefixChars: 10)).Id);
    }

    [Theory]
    [InlineData("scenario")]
    [InlineData("cli")]
    public void The_dictionaries_parse(string name)
    {
        string? path = FuzzTargets.Dictionary(name);
        Assert.NotNull(path);
        var tokens = AflDictionary.Load(path);
        Assert.True(tokens.Count > 20);
        Assert.Contains(tokens, t => t.SequenceEqual(new byte[] { 0x1b, (byte)'[', (byte)'3', (byte)'1', (byte)'m' }));
    }

    [Fact]
    public void A_dictionary_line_is_a_quoted_token()
    {
        var tokens = AflDictionary.Parse(["# comment", "", "\"a\\\"b\"", "name=\"\\x00\\\\\""]);
        Assert.Equal([[(byte)'a', (byte)'"', (byte)'b'], [0, (byte)'\\']], tokens);
        Assert.Throws<FormatException>(() => AflDictionary.Parse(["bare"]));
    }

    [Fact]
    public void A_cli_input_is_one_argument_per_line()
    {
        Assert.Empty(CliTarget.Arguments([]));
        Assert.Equal(["replay", ""], CliTarget.Arguments("replay\n\n"u8.ToArray()));
        Assert.Equal(["run", "-s", "4M"], CliTarget.Arguments("run\n-s\n4M"u8.ToArray()));
        Assert.Equal(["ab"], CliTarget.Arguments("a\0b\n"u8.ToArray()));
    }

    [Fact]
    public void The_trace_corpus_is_real_traces_each_small()
    {
        string[] traces = FuzzTargets.CorpusFiles("trace").ToArray();
        Assert.True(traces.Length >= 5);
        foreach (string trace in traces)
        {
            byte[] bytes = File.ReadAllBytes(trace);
            Assert.True(bytes.Length < 200 << 10, $"{trace}: {bytes.Length} bytes");
            Assert.True(bytes.AsSpan().StartsWith("Nettrace"u8), trace);
            Assert.True(TraceTarget.FirstBlock(bytes) > 8, trace);
        }
    }
}
