using System;
using System.Globalization;

namespace LargeFolios.Fuzz;

/// <summary>
/// What a message printed for a bad input must be: fit for a terminal (no control character from
/// the input reaches it unescaped: an ESC would recolour or retitle the terminal, a NUL or CR hide
/// what follows) and of bounded length (a 100 KB token is not echoed whole).
/// </summary>
public static class TextChecks
{
    /// <summary>
    /// The longest message allowed, besides the file name it starts with. The scenario reader's
    /// longest message with a short token is about 250 characters; a token cut to a few dozen
    /// characters stays far below this.
    /// </summary>
    public const int MaxMessageChars = 1024;

    /// <summary>
    /// Fails <paramref name="check"/> when <paramref name="text"/> holds a control character
    /// (newlines too unless <paramref name="multiline"/>) or, past <paramref name="prefixChars"/>,
    /// more than <paramref name="maxChars"/> characters.
    /// </summary>
    public static void Printable(string check, string what, string text, bool multiline = false, int prefixChars = 0, int maxChars = MaxMessageChars)
    {
        ArgumentNullException.ThrowIfNull(text);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (multiline && c == '\n')
                continue;
            if (char.IsControl(c))
            {
                Checks.Fail(check, detail: "control", message: $"{what} holds the control character U+{(int)c:X4} at {i} (an input's bytes reach the terminal unescaped): {Excerpt(text, i)}");
                return;
            }
        }

        if (text.Length - prefixChars > maxChars)
            Checks.Fail(check, detail: "length", message: $"{what} is {text.Length.ToString(CultureInfo.InvariantCulture)} characters (over {maxChars} besides its {prefixChars}-character prefix: an input's token is echoed whole): {Excerpt(text, prefixChars)}");
    }

    /// <summary>A piece of <paramref name="text"/> around <paramref name="at"/>, escaped, for a finding's message.</summary>
    public static string Excerpt(string text, int at, int radius = 60)
    {
        ArgumentNullException.ThrowIfNull(text);
        int start = Math.Max(0, at - radius);
        int end = Math.Min(text.Length, at + radius);
        return (start > 0 ? "..." : "") + Escape(text.AsSpan(start, end - start)) + (end < text.Length ? "..." : "");
    }

    /// <summary>Control characters as \uXXXX, the rest as it is.</summary>
    public static string Escape(ReadOnlySpan<char> text)
    {
        var escaped = new System.Text.StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (char.IsControl(c))
                escaped.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else
                escaped.Append(c);
        }

        return escaped.ToString();
    }

    /// <summary>
    /// An outcome key for <paramref name="message"/>: quoted parts, numbers and paths dropped, cut
    /// to 100 characters, so that messages differing only in a token or a line share a key.
    /// </summary>
    public static string Shape(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var shape = new System.Text.StringBuilder(100);
        bool quoted = false;
        bool digits = false;
        foreach (char c in message)
        {
            if (shape.Length >= 100)
                break;
            if (c == '"')
            {
                quoted = !quoted;
                shape.Append('"');
                continue;
            }

            if (quoted)
                continue;
            if (char.IsAsciiDigit(c) || (digits && (char.IsAsciiHexDigit(c) || c == 'x')))
            {
                if (!digits)
                    shape.Append('#');
                digits = true;
                continue;
            }

            digits = false;
            shape.Append(char.IsControl(c) ? ' ' : c);
        }

        return shape.ToString();
    }
}
