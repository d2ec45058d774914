using System;
using System.Globalization;
using System.Text;

namespace LargeFolios.FaultPath;

/// <summary>
/// A piece of untrusted input (a scenario's word, a command-line value) as an error message may
/// quote it: bounded in length and with nothing a terminal would act on, so a 10 MB number makes a
/// one-line message and an escape sequence in a file is shown, not obeyed.
/// </summary>
/// <remarks>
/// Escaped: C0 and C1 controls and DEL (<c>\e</c> as <c>\x1B</c>, NUL as <c>\0</c>), the
/// bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069) that reorder what a
/// reader sees, unpaired surrogates, and the quote and backslash themselves, so that the quoted
/// text reads back unambiguously. Longer than <see cref="MaxShown"/> characters, the text is cut
/// there and its length given: <c>"123456…" (10485760 characters)</c>.
/// </remarks>
public static class EchoedText
{
    /// <summary>The most characters of the input a quote shows.</summary>
    public const int MaxShown = 48;

    /// <summary><paramref name="text"/> in double quotes, escaped and cut to <see cref="MaxShown"/> characters.</summary>
    public static string Quote(ReadOnlySpan<char> text) => Quote(text, MaxShown);

    /// <summary><paramref name="text"/> in double quotes, escaped and cut to <paramref name="maxShown"/> characters (a sentence, say, rather than a word).</summary>
    public static string Quote(ReadOnlySpan<char> text, int maxShown)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShown);
        // The common case, a short printable word, costs one scan and one string.
        if (text.Length <= maxShown && !NeedsEscape(text))
            return string.Concat("\"", text, "\"");

        var quoted = new StringBuilder(Math.Min(text.Length, maxShown) + 32);
        quoted.Append('"');
        int shown = Math.Min(text.Length, maxShown);
        for (int i = 0; i < shown; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                if (i + 1 == shown)
                    break;   // never cut a pair in two
                quoted.Append(c).Append(text[++i]);
                continue;
            }

            AppendEscaped(quoted, c);
        }

        quoted.Append('"');
        if (text.Length > maxShown)
            quoted.Insert(quoted.Length - 1, '…').Append(CultureInfo.InvariantCulture, $" ({text.Length} characters)");
        return quoted.ToString();
    }

    /// <summary>
    /// A whole message with only what a terminal would act on escaped (controls but line feeds, DEL,
    /// C1 controls, bidirectional overrides, unpaired surrogates), neither quoted nor cut: for text
    /// whose words were quoted already, or that quotes a file name as the system wrote it.
    /// </summary>
    public static string EscapeControls(ReadOnlySpan<char> text)
    {
        int first = 0;
        while (first < text.Length && !ActsOnTerminal(text, first))
            first++;
        if (first == text.Length)
            return text.ToString();

        var escaped = new StringBuilder(text.Length + 16);
        escaped.Append(text[..first]);
        for (int i = first; i < text.Length; i++)
        {
            if (ActsOnTerminal(text, i))
                escaped.Append(text[i] <= 0xFF ? "\\x" : "\\u").Append(((int)text[i]).ToString(text[i] <= 0xFF ? "X2" : "X4", CultureInfo.InvariantCulture));
            else
                escaped.Append(text[i]);
        }

        return escaped.ToString();
    }

    private static bool ActsOnTerminal(ReadOnlySpan<char> text, int i)
    {
        char c = text[i];
        if (c is '\n' or '"' or '\\')
            return false;
        if (char.IsHighSurrogate(c))
            return i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]);
        if (char.IsLowSurrogate(c))
            return i == 0 || !char.IsHighSurrogate(text[i - 1]);
        return IsEscaped(c);
    }

    private static bool NeedsEscape(ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (IsEscaped(c) || char.IsSurrogate(c))
                return true;
        }

        return false;
    }

    private static bool IsEscaped(char c) =>
        c < 0x20 || c is '"' or '\\' || (c >= 0x7F && c <= 0x9F) || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069');

    private static void AppendEscaped(StringBuilder quoted, char c)
    {
        switch (c)
        {
            case '"': quoted.Append("\\\""); return;
            case '\\': quoted.Append("\\\\"); return;
            case '\0': quoted.Append("\\0"); return;
            case '\t': quoted.Append("\\t"); return;
            case '\r': quoted.Append("\\r"); return;
            case '\n': quoted.Append("\\n"); return;
        }

        if (c <= 0xFF && IsEscaped(c))
            quoted.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
        else if (IsEscaped(c) || char.IsSurrogate(c))
            quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
        else
            quoted.Append(c);
    }
}
