using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;

namespace LargeFolios.Folios.Policies;

/// <summary>
/// A complete THP configuration to write into a machine's sysfs (<see cref="ThpPolicy"/>): the
/// global <c>enabled</c> setting and every anonymous size's <c>hugepages-&lt;size&gt;kB/enabled</c>,
/// with the name a report heads its column with.
/// </summary>
internal sealed record PolicySettings
{
    private PolicySettings(string name, ThpEnabled global, ImmutableArray<ThpSizeEnabled> sizes)
    {
        Name = name;
        Global = global;
        Sizes = sizes;
    }

    /// <summary>Linux's defaults (CONFIG_TRANSPARENT_HUGEPAGE_MADVISE): global madvise, 2048kB inherit, every smaller size never.</summary>
    public static PolicySettings Default { get; } = FromThpPolicy("default", new ThpPolicy());

    /// <summary>No THP of any size: every anonymous fault maps order 0.</summary>
    public static PolicySettings Never { get; } = Uniform("never", ThpEnabled.Never, ThpSizeEnabled.Never);

    /// <summary>Global always, 2048kB inherit, no mTHP: the classic THP=always (PMD THP for every VMA that does not opt out).</summary>
    public static PolicySettings Always { get; } = Default.WithName("always").WithGlobal(ThpEnabled.Always);

    /// <summary>Every size from 16kB to 2048kB always.</summary>
    public static PolicySettings All { get; } = Uniform("all", ThpEnabled.Madvise, ThpSizeEnabled.Always);

    /// <summary>The column heading: the policy as the command line gave it.</summary>
    public string Name { get; init; }

    /// <summary><c>transparent_hugepage/enabled</c>.</summary>
    public ThpEnabled Global { get; init; }

    /// <summary>Per order 0..9, <c>hugepages-&lt;size&gt;kB/enabled</c> (orders 0 and 1 have none and stay never).</summary>
    public ImmutableArray<ThpSizeEnabled> Sizes { get; init; }

    /// <summary>The name (what --help shows as a default).</summary>
    public override string ToString() => Name;

    /// <summary>Writes every setting into <paramref name="policy"/>, as a script echoing into sysfs would.</summary>
    public void ApplyTo(ThpPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        policy.Enabled = Global;
        foreach (int order in AnonOrders())
            policy.SetSizeEnabled(order, Sizes[order]);
    }

    /// <summary>The same policy under another heading.</summary>
    public PolicySettings WithName(string name) => this with { Name = name };

    /// <summary>The same policy with another global setting.</summary>
    public PolicySettings WithGlobal(ThpEnabled global) => this with { Global = global };

    /// <summary>The same policy with one size's setting changed.</summary>
    public PolicySettings WithSize(int order, ThpSizeEnabled setting) => this with { Sizes = Sizes.SetItem(order, setting) };

    /// <summary>
    /// The sysfs view in one short line: the global setting, then the sizes of each per-size
    /// setting but never, consecutive sizes as a range (<c>enabled=madvise, always 16kB..2048kB</c>).
    /// </summary>
    public string Describe()
    {
        var parts = new List<string> { $"enabled={Global.ToString().ToLowerInvariant()}" };
        foreach (ThpSizeEnabled setting in new[] { ThpSizeEnabled.Always, ThpSizeEnabled.Inherit, ThpSizeEnabled.Madvise })
        {
            int[] orders = AnonOrders().Where(order => Sizes[order] == setting).ToArray();
            if (orders.Length > 0)
                parts.Add($"{setting.ToString().ToLowerInvariant()} {FormatSizes(orders)}");
        }

        return string.Join(", ", parts);
    }

    /// <summary>
    /// The sizes a write fault in an anonymous VMA with <paramref name="vmaFlags"/> may map under
    /// this policy: what <c>thp_vma_allowable_orders</c> allows, and 4kB, always the last resort
    /// (<c>4kB, 16kB, 64kB</c>; consecutive sizes as a range).
    /// </summary>
    public string DescribeAllowedSizes(VmaFlags vmaFlags)
    {
        var policy = new ThpPolicy();
        ApplyTo(policy);
        uint orders = policy.AllowableOrders(vmaFlags);
        int[] allowed = AnonOrders().Where(order => ((orders >> order) & 1) != 0).ToArray();
        return allowed.Length == 0 ? ThpPolicy.SizeName(0) : $"{ThpPolicy.SizeName(0)}, {FormatSizes(allowed)}";
    }

    /// <summary>Orders as sysfs sizes, ascending, runs of consecutive orders as <c>first..last</c>: <c>16kB, 64kB..256kB</c>.</summary>
    public static string FormatSizes(IReadOnlyList<int> orders)
    {
        ArgumentNullException.ThrowIfNull(orders);
        var runs = new List<string>();
        for (int i = 0; i < orders.Count;)
        {
            int j = i;
            while (j + 1 < orders.Count && orders[j + 1] == orders[j] + 1)
                j++;
            runs.Add(j == i ? ThpPolicy.SizeName(orders[i]) : $"{ThpPolicy.SizeName(orders[i])}..{ThpPolicy.SizeName(orders[j])}");
            i = j + 1;
        }

        return string.Join(", ", runs);
    }

    /// <summary>Every anonymous mTHP order, 16kB (2) to 2048kB (9).</summary>
    public static IEnumerable<int> AnonOrders() => Enumerable.Range(ThpPolicy.MinAnonOrder, PageGeometry.PmdOrder - ThpPolicy.MinAnonOrder + 1);

    /// <summary>A policy with every size set alike.</summary>
    public static PolicySettings Uniform(string name, ThpEnabled global, ThpSizeEnabled every)
    {
        var sizes = Enumerable.Repeat(ThpSizeEnabled.Never, PageGeometry.PmdOrder + 1).ToArray();
        foreach (int order in AnonOrders())
            sizes[order] = every;
        return new PolicySettings(name, global, [.. sizes]);
    }

    /// <summary>Reads a machine's current settings.</summary>
    public static PolicySettings FromThpPolicy(string name, ThpPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var sizes = Enumerable.Repeat(ThpSizeEnabled.Never, PageGeometry.PmdOrder + 1).ToArray();
        foreach (int order in AnonOrders())
            sizes[order] = policy.GetSizeEnabled(order);
        return new PolicySettings(name, policy.Enabled, [.. sizes]);
    }
}
