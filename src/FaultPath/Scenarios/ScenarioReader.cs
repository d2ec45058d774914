using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.IO;

namespace LargeFolios.FaultPath;

/// <summary>
/// Reads a scenario (docs/scenario-format.md) one command at a time: one command per line, <c>#</c>
/// starts a comment, blank lines are skipped, and numbers are decimal or <c>0x</c> hex with an
/// optional <c>K</c>, <c>M</c> or <c>G</c> suffix (powers of 1024). Commands are parsed lazily, so
/// a runner executes every line before a malformed one and none after it; the malformed line
/// raises <see cref="ScenarioSyntaxException"/> naming the file, the line and what was expected.
/// A line may hold at most <see cref="MaxLineLength"/> characters; words a message quotes are
/// quoted by <see cref="EchoedText"/>, cut short and escaped.
/// </summary>
/// <remarks>
/// The reader checks syntax only. Whether an address is aligned or mapped is the runner's
/// business, as it is the kernel's: <c>mmap</c> of an unaligned address is a syscall error, not a
/// typo.
/// </remarks>
public static class ScenarioReader
{
    /// <summary>
    /// The longest line read, comment included: far more than any command needs, and what bounds
    /// the memory a file without newlines (<c>/dev/zero</c>) takes before it is refused.
    /// </summary>
    public const int MaxLineLength = 4096;

    /// <summary>The most processes a scenario may create, the first included: far beyond what a scenario needs, and what bounds the state a runner keeps for them.</summary>
    public const int MaxProcesses = 1024;

    private const string Commands = "thp, mmap, munmap, mprotect, mremap, madvise, write, read, fork, process, exit, dump, stats or shrink";

    /// <summary>The commands of <paramref name="reader"/>'s text, read as they are enumerated.</summary>
    /// <param name="reader">The scenario text.</param>
    /// <param name="file">The name messages give the scenario (its path, usually).</param>
    public static IEnumerable<ScenarioCommand> Read(TextReader reader, string file)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(file);
        return ReadIterator(reader, file);
    }

    /// <summary>The commands of the file at <paramref name="path"/>, read as they are enumerated.</summary>
    public static IEnumerable<ScenarioCommand> ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return ReadFileIterator(path);
    }

    /// <summary>Parses one line; null for a blank or comment-only line.</summary>
    /// <remarks>Allocation-free for a well-formed line: words are spans of it, numbers are parsed in place.</remarks>
    public static ScenarioCommand? ParseLine(string text, string file, int line)
    {
        ArgumentNullException.ThrowIfNull(text);
        ReadOnlySpan<char> content = text;
        int hash = content.IndexOf('#');
        if (hash >= 0)
            content = content[..hash];
        var words = new Words(content);
        if (words.Count == 0)
            return null;

        var at = new Where(file, line, words);
        ReadOnlySpan<char> verb = words[0];
        switch (verb)
        {
            case "thp":
                at.Arity(3, "thp enabled <always|madvise|never>, thp <size>kB <always|inherit|madvise|never> or thp <file> <value>");
                string setting = words[2].ToString();
                if (words[1] is "enabled")
                {
                    if (!ThpPolicy.TryParseEnabled(setting, out _))
                        at.Fail($"{EchoedText.Quote(setting)} is not a global THP setting; expected always, madvise or never");
                    return new ScenarioCommand(ScenarioVerb.ThpEnabled, line, Text: setting);
                }

                if (ThpPolicy.TryParseKnob(words[1].ToString(), out ThpKnob knob))
                {
                    if (ThpPolicy.WhyInvalidKnobValue(knob, setting) is { } why)
                        at.Fail($"{EchoedText.Quote(setting)} is not a value of {ThpPolicy.KnobPath(knob)}; {why}");
                    return new ScenarioCommand(ScenarioVerb.ThpKnob, line, Text: setting, Knob: knob);
                }

                if (!words[1].EndsWith("kB"))
                    at.Fail($"{EchoedText.Quote(words[1])} is not a THP file; expected enabled, a size (16kB .. 2048kB), use_zero_page, shrink_underused, defrag, khugepaged/max_ptes_none, khugepaged/max_ptes_shared or khugepaged/max_ptes_swap");
                if (!ThpPolicy.TryOrderOfSize(words[1].ToString(), out int order, out string? problem))
                    at.Fail($"{EchoedText.Quote(words[1])} is not a THP size: {problem}");

                if (!ThpPolicy.TryParseSizeEnabled(setting, out _))
                    at.Fail($"{EchoedText.Quote(setting)} is not a per-size THP setting; expected always, inherit, madvise or never");
                return new ScenarioCommand(ScenarioVerb.ThpSize, line, Order: order, Text: setting);

            case "mmap":
                at.Arity(3, 4, "mmap <addr> <len> [rw|r|none]");
                return new ScenarioCommand(ScenarioVerb.Mmap, line, Address: at.Number(1, "address"), Length: at.Number(2, "length"),
                    Protection: words.Count == 4 ? at.Protection(3) : MemoryProtection.ReadWrite);

            case "munmap":
                at.Arity(3, "munmap <addr> <len>");
                return new ScenarioCommand(ScenarioVerb.Munmap, line, Address: at.Number(1, "address"), Length: at.Number(2, "length"));

            case "mprotect":
                at.Arity(4, "mprotect <addr> <len> <rw|r|none>");
                return new ScenarioCommand(ScenarioVerb.Mprotect, line, Address: at.Number(1, "address"), Length: at.Number(2, "length"),
                    Protection: at.Protection(3));

            case "mremap":
                at.Arity(4, 5, "mremap <old> <oldlen> <newlen> [<newaddr>]");
                return new ScenarioCommand(ScenarioVerb.Mremap, line, Address: at.Number(1, "address"), Length: at.Number(2, "length"),
                    NewLength: at.Number(3, "length"), NewAddress: words.Count == 5 ? at.Number(4, "address") : null);

            case "madvise":
                at.Arity(4, "madvise <addr> <len> <advice>");
                MadviseAdvice advice = words[3] switch
                {
                    "hugepage" => MadviseAdvice.HugePage,
                    "nohugepage" => MadviseAdvice.NoHugePage,
                    "dontneed" => MadviseAdvice.DontNeed,
                    "free" => MadviseAdvice.Free,
                    "populate_read" => MadviseAdvice.PopulateRead,
                    "populate_write" => MadviseAdvice.PopulateWrite,
                    "collapse" => MadviseAdvice.Collapse,
                    "dontfork" => MadviseAdvice.DontFork,
                    "dofork" => MadviseAdvice.DoFork,
                    "wipeonfork" => MadviseAdvice.WipeOnFork,
                    "keeponfork" => MadviseAdvice.KeepOnFork,
                    _ => at.Fail<MadviseAdvice>($"{EchoedText.Quote(words[3])} is not an advice; expected hugepage, nohugepage, dontneed, free, populate_read, populate_write, collapse, dontfork, dofork, wipeonfork or keeponfork"),
                };
                return new ScenarioCommand(ScenarioVerb.Madvise, line,
                    Address: at.Number(1, "address"), Length: at.Number(2, "length"), Advice: advice);

            case "write":
            case "read":
                at.Arity(2, $"{verb} <addr>");
                return new ScenarioCommand(verb is "write" ? ScenarioVerb.Write : ScenarioVerb.Read, line, Address: at.Number(1, "address"));

            case "process":
                at.Arity(2, "process <n>");
                return new ScenarioCommand(ScenarioVerb.Process, line, Process: at.ProcessId(1));

            case "fork":
            case "exit":
            case "dump":
            case "stats":
            case "shrink":
                at.Arity(1, verb.ToString());
                return new ScenarioCommand(verb switch
                {
                    "fork" => ScenarioVerb.Fork,
                    "exit" => ScenarioVerb.Exit,
                    "dump" => ScenarioVerb.Dump,
                    "stats" => ScenarioVerb.Stats,
                    _ => ScenarioVerb.Shrink,
                }, line);

            default:
                return at.Fail<ScenarioCommand?>($"unknown command {EchoedText.Quote(verb)}; expected {Commands}");
        }
    }

    /// <summary>
    /// A scenario number: decimal or <c>0x</c> hex, with an optional K, M or G suffix (times 1024,
    /// 1024², 1024³). False when it is not one or does not fit 64 bits.
    /// </summary>
    public static bool TryParseNumber(string text, out ulong value)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseNumber(text.AsSpan(), out value);
    }

    /// <summary><see cref="TryParseNumber(string, out ulong)"/> on a span.</summary>
    public static bool TryParseNumber(ReadOnlySpan<char> digits, out ulong value)
    {
        value = 0;
        int shift = 0;
        if (digits.Length > 0)
        {
            switch (digits[^1])
            {
                case 'K': shift = 10; break;
                case 'M': shift = 20; break;
                case 'G': shift = 30; break;
            }

            if (shift != 0)
                digits = digits[..^1];
        }

        bool parsed = digits.StartsWith("0x", StringComparison.Ordinal)
            ? ulong.TryParse(digits[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value) && digits.Length > 2
            : ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (!parsed || (shift != 0 && value > (ulong.MaxValue >> shift)))
            return false;
        value <<= shift;
        return true;
    }

    private static IEnumerable<ScenarioCommand> ReadIterator(TextReader reader, string file)
    {
        var lines = new BoundedLineReader(reader, MaxLineLength);
        var processes = new ScenarioProcesses();
        int line = 0;
        while (true)
        {
            line++;
            if (!lines.TryReadLine(out string? text, out bool tooLong))
            {
                if (tooLong)
                    throw new ScenarioSyntaxException($"{file}:{line}: the line is longer than {MaxLineLength} characters; expected one command per line (is this a scenario?).", file, line);
                yield break;
            }

            if (ParseLine(text!, file, line) is { } command)
                yield return processes.Check(command, file);
        }
    }

    private static IEnumerable<ScenarioCommand> ReadFileIterator(string path)
    {
        using var reader = new StreamReader(path);
        foreach (ScenarioCommand command in ReadIterator(reader, path))
            yield return command;
    }

    /// <summary>The whitespace-separated words of a line, as ranges of it (at most five are kept; the count is exact).</summary>
    private readonly ref struct Words
    {
        private const int Kept = 5;
        private readonly ReadOnlySpan<char> _text;
        private readonly Range _w0, _w1, _w2, _w3, _w4;

        public Words(ReadOnlySpan<char> text)
        {
            _text = text;
            int count = 0;
            int i = 0;
            while (true)
            {
                while (i < text.Length && char.IsWhiteSpace(text[i]))
                    i++;
                if (i == text.Length)
                    break;
                int start = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                    i++;
                var word = new Range(start, i);
                switch (count++)
                {
                    case 0: _w0 = word; break;
                    case 1: _w1 = word; break;
                    case 2: _w2 = word; break;
                    case 3: _w3 = word; break;
                    case 4: _w4 = word; break;
                }
            }

            Count = count;
        }

        public int Count { get; }

        public ReadOnlySpan<char> this[int index] => index switch
        {
            0 => _text[_w0],
            1 => _text[_w1],
            2 => _text[_w2],
            3 => _text[_w3],
            4 => _text[_w4],
            _ => throw new ArgumentOutOfRangeException(nameof(index), index, $"Only the first {Kept} words are kept."),
        };
    }

    /// <summary>Where a line came from, and the failures that name it.</summary>
    private readonly ref struct Where(string file, int line, Words words)
    {
        private readonly Words _words = words;

        public void Arity(int expected, string form) => Arity(expected, expected, form);

        /// <summary>Between <paramref name="least"/> and <paramref name="most"/> words, the command's own included.</summary>
        public void Arity(int least, int most, string form)
        {
            if (_words.Count < least || _words.Count > most)
            {
                string count = least == most ? $"{least - 1}" : $"{least - 1} or {most - 1}";
                Fail($"{EchoedText.Quote(_words[0])} takes {count} argument{(most == 2 ? "" : "s")}, got {_words.Count - 1}; expected \"{form}\"");
            }
        }

        public ulong Number(int index, string what)
        {
            ReadOnlySpan<char> word = _words[index];
            if (!TryParseNumber(word, out ulong value))
                Fail($"{EchoedText.Quote(word)} is not a valid {what}; expected a decimal or 0x-hex number with an optional K, M or G suffix, within 64 bits");
            return value;
        }

        public MemoryProtection Protection(int index) => _words[index] switch
        {
            "rw" => MemoryProtection.ReadWrite,
            "r" => MemoryProtection.Read,
            "none" => MemoryProtection.None,
            _ => Fail<MemoryProtection>($"{EchoedText.Quote(_words[index])} is not a protection; expected rw, r or none"),
        };

        public int ProcessId(int index)
        {
            ReadOnlySpan<char> word = _words[index];
            if (!int.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id >= MaxProcesses)
                Fail($"{EchoedText.Quote(word)} is not a process id; expected a decimal number below {MaxProcesses}");
            return id;
        }

        [DoesNotReturn]
        public void Fail(string what) => throw new ScenarioSyntaxException($"{file}:{line}: {what}.", file, line);

        [DoesNotReturn]
        public T Fail<T>(string what) => throw new ScenarioSyntaxException($"{file}:{line}: {what}.", file, line);
    }
}
