using System;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;

namespace LargeFolios.Folios.Policies;

/// <summary>
/// Reads the command line's policy syntax (<see cref="Syntax"/>) into <see cref="PolicySettings"/>.
/// </summary>
internal static class PolicyParser
{
    /// <summary>The grammar, as --help shows it.</summary>
    public const string Syntax =
        "default (Linux's defaults: enabled=madvise, 2M inherit, smaller sizes never), " +
        "never (no THP), always (enabled=always: 2M THP everywhere, no mTHP), all (every size 16K..2M always), " +
        "or a comma-separated list of sizes set to always, the rest never (16K,64K); " +
        "a list may start with a preset and change it, and an item may be SIZE=always|inherit|madvise|never " +
        "or enabled=always|madvise|never (default,64K=always or 64K,2M=inherit,enabled=always)";

    private const string ExpectedItem =
        "expected default, never, always, all, a size from 16K to 2M, SIZE=always|inherit|madvise|never or enabled=always|madvise|never";

    /// <summary>Parses <paramref name="text"/>; the policy's name is the text as given.</summary>
    /// <param name="text">The policy, e.g. <c>16K,64K</c>.</param>
    /// <param name="policy">The settings, when the text is well formed.</param>
    /// <param name="error">Otherwise what is wrong and what was expected, naming the bad item.</param>
    public static bool TryParse(string text, [NotNullWhen(true)] out PolicySettings? policy, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        policy = null;
        string[] items = text.Split(',', StringSplitOptions.TrimEntries);
        if (text.Trim().Length == 0 || Array.Exists(items, item => item.Length == 0))
        {
            error = $"{EchoedText.Quote(text)} is not a policy: an item is empty; {ExpectedItem}";
            return false;
        }

        // A bare list of sizes means "exactly these sizes": start from nothing enabled.
        PolicySettings settings = PolicySettings.Uniform(text, ThpEnabled.Madvise, ThpSizeEnabled.Never);
        for (int i = 0; i < items.Length; i++)
        {
            string item = items[i];
            if (TryPreset(item, out PolicySettings? preset))
            {
                if (i != 0)
                {
                    error = $"{EchoedText.Quote(item)} in policy {EchoedText.Quote(text)} names a whole policy, so it can only come first; {ExpectedItem}";
                    return false;
                }

                settings = preset.WithName(text);
                continue;
            }

            if (!TryApplyItem(settings, item, out settings, out error))
                return false;
        }

        policy = settings;
        error = null;
        return true;
    }

    /// <summary>Parses <paramref name="text"/> or throws.</summary>
    /// <exception cref="ArgumentException">The text is not a policy; the message says why.</exception>
    public static PolicySettings Parse(string text) =>
        TryParse(text, out PolicySettings? policy, out string? error) ? policy : throw new ArgumentException(error, nameof(text));

    private static bool TryPreset(string item, [NotNullWhen(true)] out PolicySettings? preset)
    {
        preset = item.ToLowerInvariant() switch
        {
            "default" => PolicySettings.Default,
            "never" => PolicySettings.Never,
            "always" => PolicySettings.Always,
            "all" => PolicySettings.All,
            _ => null,
        };
        return preset != null;
    }

    private static bool TryApplyItem(PolicySettings settings, string item, out PolicySettings changed, [NotNullWhen(false)] out string? error)
    {
        changed = settings;
        int equals = item.IndexOf('=', StringComparison.Ordinal);
        string key = equals < 0 ? item : item[..equals].Trim();
        string? value = equals < 0 ? null : item[(equals + 1)..].Trim();

        if (key.Equals("enabled", StringComparison.OrdinalIgnoreCase))
        {
            if (value == null || !ThpPolicy.TryParseEnabled(value.ToLowerInvariant(), out ThpEnabled global))
            {
                error = $"{EchoedText.Quote(item)}: expected enabled=always, enabled=madvise or enabled=never";
                return false;
            }

            changed = settings.WithGlobal(global);
            error = null;
            return true;
        }

        if (!TryParseOrder(key, out int order, out error))
            return false;

        ThpSizeEnabled setting = ThpSizeEnabled.Always;
        if (value != null && !ThpPolicy.TryParseSizeEnabled(value.ToLowerInvariant(), out setting))
        {
            error = $"{EchoedText.Quote(item)}: expected {key}=always, {key}=inherit, {key}=madvise or {key}=never";
            return false;
        }

        changed = settings.WithSize(order, setting);
        return true;
    }

    /// <summary>The order of an anonymous THP size written as 64K, 64kB, 2M or 2048K.</summary>
    private static bool TryParseOrder(string size, out int order, [NotNullWhen(false)] out string? error)
    {
        order = 0;
        if (!ByteSize.TryParse(size, out long bytes))
        {
            error = $"{EchoedText.Quote(size)} is not a policy, a size or a setting; {ExpectedItem}";
            return false;
        }

        if (bytes < PageGeometry.PageSize || !BitOperations.IsPow2(bytes))
        {
            error = $"{EchoedText.Quote(size)} is not a THP size; expected a power of two from 16K to 2M";
            return false;
        }

        order = BitOperations.Log2((ulong)bytes) - PageGeometry.PageShift;
        error = order switch
        {
            0 => $"{EchoedText.Quote(size)} is the base page (order 0), which has no THP setting; expected a size from 16K to 2M",
            1 => $"{EchoedText.Quote(size)} (order 1) has no THP setting: an anonymous folio cannot be order 1; expected a size from 16K to 2M",
            > PageGeometry.PmdOrder => $"{EchoedText.Quote(size)} is larger than a PMD (2M), the largest anonymous THP size; expected a size from 16K to 2M",
            _ => null,
        };
        return error == null;
    }
}
