using System;
using System.Globalization;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// Byte sizes as the tool reads and writes them: decimal or 0x-hex, with an optional K, M, G or T
/// suffix in powers of 1024 (the scenario format's numbers, plus the "B", "iB" and "kB" spellings
/// people paste from sysfs and free(1)).
/// </summary>
/// <param name="Bytes">The size in bytes.</param>
internal readonly record struct ByteSize(long Bytes)
{
    /// <summary>What <see cref="TryParse"/> accepts, for error messages.</summary>
    public const string Expected = "a number of bytes with an optional K, M, G or T suffix (powers of 1024), e.g. 4096, 64K, 256M, 1G";

    /// <summary>Parses <paramref name="text"/> as a size in bytes.</summary>
    /// <returns>False for anything that is not a non-negative size that fits a <see cref="long"/>.</returns>
    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
            return false;

        ReadOnlySpan<char> span = text.AsSpan().Trim();
        bool hex = span.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        span = StripUnit(span, hex, out int shift);
        bool parsed = hex
            ? ulong.TryParse(span[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value)
            : ulong.TryParse(span, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (!parsed || value > (ulong)(long.MaxValue >> shift))
            return false;

        bytes = (long)(value << shift);
        return true;
    }

    /// <summary>A size as people write it: the largest unit that divides it exactly (64K, 2M, 1G), else bytes.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["", "K", "M", "G", "T"];
        int unit = 0;
        while (unit < units.Length - 1 && bytes != 0 && (bytes & 1023) == 0)
        {
            bytes >>= 10;
            unit++;
        }

        return bytes.ToString(CultureInfo.InvariantCulture) + units[unit];
    }

    /// <summary>A size for people to read: exact as <see cref="Format"/> where that is short, else in the largest unit with one decimal (1012.5G).</summary>
    public static string FormatRounded(long bytes)
    {
        string exact = Format(bytes);
        if (exact.Length <= 5)
            return exact;
        int unit = Math.Min(4, (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(1, bytes))) / 10);
        double value = bytes / Math.Pow(1024, unit);
        return value.ToString("0.0", CultureInfo.InvariantCulture) + " KMGT"[unit];
    }

    /// <summary>The size as <see cref="Format"/> writes it (what --help shows as a default).</summary>
    public override string ToString() => Format(Bytes);

    private static ReadOnlySpan<char> StripUnit(ReadOnlySpan<char> span, bool hex, out int shift)
    {
        shift = 0;
        // "iB" and "B" decorate a suffix or a byte count (64KiB, 64kB, 4096B); in hex a B is a digit.
        if (!hex && span.EndsWith("iB", StringComparison.Ordinal))
            span = span[..^2];
        else if (!hex && span.EndsWith("B", StringComparison.OrdinalIgnoreCase))
            span = span[..^1];

        if (span.IsEmpty)
            return span;
        shift = char.ToUpperInvariant(span[^1]) switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            'T' => 40,
            _ => 0,
        };
        return shift == 0 ? span : span[..^1];
    }
}
