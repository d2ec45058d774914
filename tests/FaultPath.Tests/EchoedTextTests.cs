using Xunit;

namespace LargeFolios.FaultPath.Tests;

public class EchoedTextTests
{
    [Theory]
    [InlineData("lots", "\"lots\"")]
    [InlineData("\u001b]0;pwned\u0007", "\"\\x1B]0;pwned\\x07\"")]
    [InlineData("a\0b", "\"a\\0b\"")]
    [InlineData("tab\there", "\"tab\\there\"")]
    [InlineData("say \"hi\"\\", "\"say \\\"hi\\\"\\\\\"")]
    [InlineData("\u009b31m", "\"\\x9B31m\"")]
    [InlineData("abc\u202Edcba", "\"abc\\u202Edcba\"")]
    [InlineData("größe", "\"größe\"")]
    public void Quotes_escape_what_a_terminal_would_act_on(string text, string expected) =>
        Assert.Equal(expected, EchoedText.Quote(text));

    [Fact]
    public void An_unpaired_surrogate_is_escaped() =>
        Assert.Equal("\"\\uD800x\"", EchoedText.Quote("\ud800x"));

    [Fact]
    public void A_long_token_is_cut_and_its_length_given()
    {
        string quoted = EchoedText.Quote(new string('9', 10_000_000));
        Assert.Equal($"\"{new string('9', EchoedText.MaxShown)}…\" (10000000 characters)", quoted);
    }

    [Fact]
    public void A_sentence_may_be_shown_longer_than_a_word()
    {
        string sentence = new string('s', 150);
        Assert.Equal($"\"{sentence}\"", EchoedText.Quote(sentence, 200));
        Assert.Equal($"\"{new string('s', 100)}…\" (150 characters)", EchoedText.Quote(sentence, 100));
    }

    [Fact]
    public void A_whole_message_keeps_its_words_and_line_ends_and_loses_its_controls()
    {
        Assert.Equal("f: \"quoted\" no such file '\\x1B[31m'\n", EchoedText.EscapeControls("f: \"quoted\" no such file '\u001b[31m'\n"));
        Assert.Equal("plain", EchoedText.EscapeControls("plain"));
        Assert.Equal("😀 \\uD800", EchoedText.EscapeControls("😀 \ud800"));
    }

    [Fact]
    public void A_cut_never_splits_a_surrogate_pair()
    {
        string text = new string('x', EchoedText.MaxShown - 1) + "😀" + "tail";
        string quoted = EchoedText.Quote(text);
        Assert.DoesNotContain('\ud83d', quoted);
        Assert.StartsWith("\"" + new string('x', EchoedText.MaxShown - 1) + "…\"", quoted);
    }

    [Fact]
    public void Every_scenario_message_quotes_through_it()
    {
        // A control character in each position a message echoes: none reaches the message raw.
        string[] lines =
        [
            "\u001bverb 1", "mmap \u001b 4M", "mmap 0 \u001b", "madvise 0 4K \u001b", "thp \u001bkB always",
            "thp enabled \u001b", "thp 64kB \u001b", "write \u001b",
        ];
        foreach (string line in lines)
        {
            var error = Assert.Throws<ScenarioSyntaxException>(() => ScenarioReader.ParseLine(line, "e.scenario", 1));
            Assert.DoesNotContain('\u001b', error.Message);
            Assert.Contains("\\x1B", error.Message);
        }

        Assert.DoesNotContain('\u001b', Assert.Throws<ScenarioSyntaxException>(() => ScenarioReader.ParseLine("dump \u001b", "e.scenario", 1)).Message);
    }

    [Fact]
    public void A_ten_megabyte_number_makes_a_short_message()
    {
        var error = Assert.Throws<ScenarioSyntaxException>(() => ScenarioReader.ParseLine("write " + new string('9', 4000), "e.scenario", 3));
        Assert.True(error.Message.Length < 300, error.Message);
        Assert.StartsWith("e.scenario:3: \"999", error.Message);
        Assert.Contains("(4000 characters)", error.Message);
    }
}
