using System;
using System.Collections.Generic;
using System.Text;

namespace LargeFolios.Fuzz.Engine;

/// <summary>
/// Makes a new input from a corpus input: one to eight stacked mutations drawn from bit flips,
/// interesting bytes and integers, inserts, deletes, duplicated and spliced chunks, dictionary
/// tokens, and, for text, line and word mutations (delete, repeat, swap, borrow a line, a number
/// replaced by an edge case, a very long line or token, control characters). Deterministic for a
/// seed.
/// </summary>
public sealed class Mutator
{
    // Numbers at the edges of the scenario format (64 bits, suffixes, hex) and of the address space.
    private static readonly string[] Numbers =
    [
        "0", "1", "4095", "4096", "4097", "0x0", "0x1000", "0xfff", "0x", "0x0x1", "0X1000", "-1", "+1", "1e3", "1.5",
        "18446744073709551615", "18446744073709551616", "99999999999999999999999", "0xffffffffffffffff",
        "0x10000000000000000", "0xfffffffffffff000", "9223372036854775807", "9223372036854775808",
        "0x7fffffffffff", "0x7ffffffff000", "0x800000000000", "0x1fffff", "0x200000", "0x3ff000",
        "17179869183G", "17179869184G", "16777215M", "16777216T", "18014398509481983K", "18014398509481984K",
        "4M", "2M", "1G", "128G", "0G", "2048kB", "16kB", "64K", "0K", "K", "M", "G", "1k", "１",
    ];

    private static readonly byte[] InterestingBytes = [0, 1, 5, 6, 0x10, 0x7f, 0x80, 0xfe, 0xff, (byte)'\n', (byte)'\r', (byte)' ', (byte)'\t', (byte)'#', 0x1b];

    private static readonly long[] InterestingIntegers =
        [0, 1, -1, 2, 4, 8, 16, 32, 64, 127, 128, 255, 256, 4096, 65535, 65536, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue];

    // Characters a line may carry that are not what they look like: controls, odd whitespace, a
    // byte-order mark, a right-to-left override, an invalid UTF-8 byte.
    private static readonly byte[][] OddCharacters =
    [
        [0], [0x1b, (byte)'[', (byte)'3', (byte)'1', (byte)'m'], [(byte)'\r'], [0x0b], [0x0c], [0x7f], [0xc2, 0x85], [0xe2, 0x80, 0xa8],
        [0xef, 0xbb, 0xbf], [0xe2, 0x80, 0xae], [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe3, 0x80, 0x80],
    ];

    private readonly Random _random;
    private readonly IReadOnlyList<byte[]> _tokens;
    private readonly bool _text;
    private readonly int _maxLength;

    /// <summary>Creates a mutator.</summary>
    /// <param name="random">The source of every choice (a seeded one for reproducible runs).</param>
    /// <param name="tokens">Dictionary tokens to insert.</param>
    /// <param name="text">Whether line and word mutations apply.</param>
    /// <param name="maxLength">The largest input made.</param>
    public Mutator(Random random, IReadOnlyList<byte[]> tokens, bool text, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(tokens);
        _random = random;
        _tokens = tokens;
        _text = text;
        _maxLength = maxLength;
    }

    /// <summary>A mutant of <paramref name="input"/>; <paramref name="pool"/> gives the other inputs to splice from.</summary>
    public byte[] Mutate(byte[] input, IReadOnlyList<byte[]> pool)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(pool);
        var data = new List<byte>(input);
        int count = 1 << _random.Next(4);
        count = _random.Next(1, count + 1);
        for (int i = 0; i < count; i++)
        {
            if (_text && _random.Next(2) == 0)
                MutateText(data, pool);
            else
                MutateBytes(data, pool);
            if (data.Count > _maxLength)
                data.RemoveRange(_maxLength, data.Count - _maxLength);
        }

        return data.ToArray();
    }

    private void MutateBytes(List<byte> data, IReadOnlyList<byte[]> pool)
    {
        int at = data.Count == 0 ? 0 : _random.Next(data.Count);
        switch (_random.Next(13))
        {
            case 0 when data.Count > 0:
                data[at] ^= (byte)(1 << _random.Next(8));
                break;
            case 1 when data.Count > 0:
                data[at] = InterestingBytes[_random.Next(InterestingBytes.Length)];
                break;
            case 2 when data.Count > 0:
                data[at] = (byte)_random.Next(256);
                break;
            case 3 when data.Count > 0:
                data[at] = (byte)(data[at] + _random.Next(-16, 17));
                break;
            case 4:
                data.InsertRange(at, RandomBytes(_random.Next(1, 17)));
                break;
            case 5 when data.Count > 0:
                data.RemoveRange(at, Math.Min(data.Count - at, ChunkLength(data.Count)));
                break;
            case 6 when data.Count > 0:
            {
                int length = Math.Min(data.Count - at, ChunkLength(data.Count));
                byte[] chunk = data.GetRange(at, length).ToArray();
                data.InsertRange(_random.Next(data.Count + 1), chunk);
                break;
            }

            case 7 when pool.Count > 0:
            {
                // Splice: this input's head, another's tail.
                byte[] other = pool[_random.Next(pool.Count)];
                int from = other.Length == 0 ? 0 : _random.Next(other.Length);
                data.RemoveRange(at, data.Count - at);
                data.AddRange(other.AsSpan(from).ToArray());
                break;
            }

            case 8 when pool.Count > 0:
            {
                // Another input's chunk, copied over this one's.
                byte[] other = pool[_random.Next(pool.Count)];
                if (other.Length == 0)
                    break;
                int from = _random.Next(other.Length);
                int length = Math.Min(other.Length - from, ChunkLength(other.Length));
                for (int i = 0; i < length; i++)
                {
                    if (at + i < data.Count)
                        data[at + i] = other[from + i];
                    else
                        data.Add(other[from + i]);
                }

                break;
            }

            case 9 when _tokens.Count > 0:
                data.InsertRange(at, _tokens[_random.Next(_tokens.Count)]);
                break;
            case 10 when data.Count > 0:
            {
                // An interesting integer over the bytes here, little-endian, 1, 2, 4 or 8 bytes wide.
                long value = InterestingIntegers[_random.Next(InterestingIntegers.Length)];
                int width = 1 << _random.Next(4);
                for (int i = 0; i < width && at + i < data.Count; i++)
                    data[at + i] = (byte)(value >> (8 * i));
                break;
            }

            case 11 when data.Count > 0:
                data.RemoveRange(at, data.Count - at);
                break;
            default:
                if (data.Count > 0)
                    data[at] ^= 0xff;
                else
                    data.Add((byte)_random.Next(256));
                break;
        }
    }

    private void MutateText(List<byte> data, IReadOnlyList<byte[]> pool)
    {
        List<byte[]> lines = Lines(data);
        int at = lines.Count == 0 ? 0 : _random.Next(lines.Count);
        switch (_random.Next(10))
        {
            case 0 when lines.Count > 0:
                lines.RemoveAt(at);
                break;
            case 1 when lines.Count > 0:
                lines.Insert(_random.Next(lines.Count + 1), lines[at]);
                break;
            case 2 when lines.Count > 1:
                (lines[at], lines[^1]) = (lines[^1], lines[at]);
                break;
            case 3 when pool.Count > 0:
            {
                List<byte[]> other = Lines(pool[_random.Next(pool.Count)]);
                if (other.Count > 0)
                    lines.Insert(_random.Next(lines.Count + 1), other[_random.Next(other.Count)]);
                break;
            }

            case 4 when lines.Count > 0:
                lines[at] = ReplaceWord(lines[at], Encoding.ASCII.GetBytes(Numbers[_random.Next(Numbers.Length)]));
                break;
            case 5 when lines.Count > 0 && _tokens.Count > 0:
                lines[at] = ReplaceWord(lines[at], _tokens[_random.Next(_tokens.Count)]);
                break;
            case 6:
            {
                // A very long line, or a very long word in one: a token or a byte repeated 1K to 128K times.
                byte[] unit = _tokens.Count > 0 && _random.Next(2) == 0 ? _tokens[_random.Next(_tokens.Count)] : [(byte)"aZ0 #x"[_random.Next(6)]];
                int repeat = Math.Max(1, (1024 << _random.Next(8)) / Math.Max(1, unit.Length));
                var longLine = new List<byte>(unit.Length * repeat);
                for (int i = 0; i < repeat; i++)
                    longLine.AddRange(unit);
                if (lines.Count > 0 && _random.Next(2) == 0)
                    lines[at] = ReplaceWord(lines[at], longLine.ToArray());
                else
                    lines.Insert(lines.Count == 0 ? 0 : _random.Next(lines.Count + 1), longLine.ToArray());
                break;
            }

            case 7 when lines.Count > 0:
            {
                byte[] odd = OddCharacters[_random.Next(OddCharacters.Length)];
                var line = new List<byte>(lines[at]);
                line.InsertRange(line.Count == 0 ? 0 : _random.Next(line.Count + 1), odd);
                lines[at] = line.ToArray();
                break;
            }

            case 8 when _tokens.Count > 0:
            {
                // A line of dictionary words: a command with arguments of its own.
                var line = new List<byte>();
                int words = _random.Next(1, 6);
                for (int i = 0; i < words; i++)
                {
                    if (i > 0)
                        line.Add((byte)' ');
                    line.AddRange(_random.Next(3) == 0 ? Encoding.ASCII.GetBytes(Numbers[_random.Next(Numbers.Length)]) : _tokens[_random.Next(_tokens.Count)]);
                }

                lines.Insert(lines.Count == 0 ? 0 : _random.Next(lines.Count + 1), line.ToArray());
                break;
            }

            default:
                MutateBytes(data, pool);
                return;
        }

        data.Clear();
        for (int i = 0; i < lines.Count; i++)
        {
            data.AddRange(lines[i]);
            data.Add((byte)'\n');
        }
    }

    /// <summary>The words of a line are what spaces separate; one, chosen at random, becomes <paramref name="word"/>.</summary>
    private byte[] ReplaceWord(byte[] line, byte[] word)
    {
        var starts = new List<(int Start, int End)>();
        for (int i = 0; i < line.Length;)
        {
            while (i < line.Length && line[i] is (byte)' ' or (byte)'\t')
                i++;
            int start = i;
            while (i < line.Length && line[i] is not ((byte)' ' or (byte)'\t'))
                i++;
            if (i > start)
                starts.Add((start, i));
        }

        if (starts.Count == 0)
            return word;
        (int from, int to) = starts[_random.Next(starts.Count)];
        var result = new List<byte>(line.Length + word.Length);
        result.AddRange(line.AsSpan(0, from).ToArray());
        result.AddRange(word);
        result.AddRange(line.AsSpan(to).ToArray());
        return result.ToArray();
    }

    private static List<byte[]> Lines(IReadOnlyList<byte> data)
    {
        var lines = new List<byte[]>();
        var line = new List<byte>();
        for (int i = 0; i < data.Count; i++)
        {
            if (data[i] == '\n')
            {
                lines.Add(line.ToArray());
                line.Clear();
            }
            else
            {
                line.Add(data[i]);
            }
        }

        if (line.Count > 0)
            lines.Add(line.ToArray());
        return lines;
    }

    private int ChunkLength(int length) => _random.Next(1, Math.Max(2, Math.Min(length, _random.Next(2) == 0 ? 16 : 1024)));

    private byte[] RandomBytes(int count)
    {
        byte[] bytes = new byte[count];
        _random.NextBytes(bytes);
        return bytes;
    }
}
