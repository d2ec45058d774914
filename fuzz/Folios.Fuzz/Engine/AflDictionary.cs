using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace LargeFolios.Fuzz.Engine;

/// <summary>
/// Reads a dictionary in AFL's format, so afl-fuzz (<c>-x</c>) and the in-process engine share one
/// file: a token per line, <c>"value"</c> or <c>name="value"</c>, with <c>\xNN</c>, <c>\\</c> and
/// <c>\"</c> escapes; <c>#</c> starts a comment line.
/// </summary>
public static class AflDictionary
{
    /// <summary>The tokens of the file at <paramref name="path"/>.</summary>
    /// <exception cref="FormatException">A line is not a token.</exception>
    public static IReadOnlyList<byte[]> Load(string path) => Parse(File.ReadAllLines(path));

    /// <summary>The tokens of <paramref name="lines"/>.</summary>
    /// <exception cref="FormatException">A line is not a token.</exception>
    public static IReadOnlyList<byte[]> Parse(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var tokens = new List<byte[]>();
        foreach (string raw in lines)
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            int open = line.IndexOf('"', StringComparison.Ordinal);
            if (open < 0 || line[^1] != '"' || open == line.Length - 1)
                throw new FormatException($"not a dictionary token: {line}");
            tokens.Add(Unescape(line.AsSpan(open + 1, line.Length - open - 2)));
        }

        return tokens;
    }

    private static byte[] Unescape(ReadOnlySpan<char> text)
    {
        var bytes = new List<byte>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                char next = text[i + 1];
                if (next is '\\' or '"')
                {
                    bytes.Add((byte)next);
                    i++;
                    continue;
                }

                if (next == 'x' && i + 3 < text.Length
                    && byte.TryParse(text.Slice(i + 2, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte value))
                {
                    bytes.Add(value);
                    i += 3;
                    continue;
                }
            }

            if (c > 0x7f)
                throw new FormatException("dictionary tokens are ASCII; write other bytes as \\xNN");
            bytes.Add((byte)c);
        }

        return bytes.ToArray();
    }
}
