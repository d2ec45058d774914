using System;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// The THP policy as sysfs holds it (Linux 6.18 mm/huge_memory.c): the global <c>enabled</c>
/// setting and, for every anonymous mTHP size from 16 KiB (order 2) to the PMD size (order 9),
/// its own <c>hugepages-&lt;size&gt;kB/enabled</c>, kept as the kernel keeps them: three order
/// bitmaps, <c>huge_anon_orders_always</c>, <c>_madvise</c> and <c>_inherit</c>, of which at most
/// one has a given order's bit.
/// </summary>
/// <remarks>
/// Defaults are the kernel's with CONFIG_TRANSPARENT_HUGEPAGE_MADVISE: global <c>madvise</c>, the
/// PMD size <c>inherit</c>, every smaller size <c>never</c>. Order 1 has no setting: an anonymous
/// folio of order 1 cannot exist (its deferred-split list would lie in page[2], the next folio's
/// head), so it is not in <c>THP_ORDERS_ALL_ANON</c> and has no sysfs directory.
/// <para>Writers (the sysfs stores) serialise on one lock, as Linux's
/// <c>huge_anon_orders_lock</c>; faults read the bitmaps without it (<c>READ_ONCE</c>), so a fault
/// racing a store sees the old or the new bitmap, never a torn one.</para>
/// </remarks>
public sealed class ThpPolicy
{
    /// <summary>The smallest anonymous mTHP order (16 KiB).</summary>
    public const int MinAnonOrder = 2;

    /// <summary>Linux <c>THP_ORDERS_ALL_ANON</c>: orders 2..9, every order up to the PMD order but 0 and 1.</summary>
    public const uint AllAnonOrders = ((1u << (PageGeometry.PmdOrder + 1)) - 1) & ~0b11u;

    private readonly Lock _storeLock = new();
    private int _enabled = (int)ThpEnabled.Madvise;
    private uint _always;
    private uint _madvise;
    private uint _inherit = 1u << PageGeometry.PmdOrder;
    private bool _shrinkUnderused = true;
    private bool _useZeroPage = true;
    private int _defrag = (int)ThpDefrag.Madvise;
    private int _maxPtesNone = (1 << PageGeometry.PmdOrder) - 1;
    private int _maxPtesShared = 1 << (PageGeometry.PmdOrder - 1);
    private int _maxPtesSwap = 1 << (PageGeometry.PmdOrder - 3);

    /// <summary>The global setting (<c>transparent_hugepage/enabled</c>).</summary>
    public ThpEnabled Enabled
    {
        get => (ThpEnabled)Volatile.Read(ref _enabled);
        set
        {
            if (!Enum.IsDefined(value))
                throw new ArgumentOutOfRangeException(nameof(value), value, $"{(int)value} is not a THP setting; expected always, madvise or never.");
            Volatile.Write(ref _enabled, (int)value);
        }
    }

    /// <summary>The setting of the size of order <paramref name="order"/> (<c>hugepages-&lt;size&gt;kB/enabled</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The order has no anonymous mTHP size (0, 1, or above the PMD order).</exception>
    public ThpSizeEnabled GetSizeEnabled(int order)
    {
        uint bit = OrderBit(order);
        if ((Volatile.Read(ref _always) & bit) != 0)
            return ThpSizeEnabled.Always;
        if ((Volatile.Read(ref _inherit) & bit) != 0)
            return ThpSizeEnabled.Inherit;
        return (Volatile.Read(ref _madvise) & bit) != 0 ? ThpSizeEnabled.Madvise : ThpSizeEnabled.Never;
    }

    /// <summary>Sets the size of order <paramref name="order"/> (Linux <c>anon_enabled_store</c>: the order's bit moves to one bitmap or leaves all three).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The order has no anonymous mTHP size, or the setting is undefined.</exception>
    public void SetSizeEnabled(int order, ThpSizeEnabled value)
    {
        uint bit = OrderBit(order);
        if (!Enum.IsDefined(value))
            throw new ArgumentOutOfRangeException(nameof(value), value, $"{(int)value} is not a per-size THP setting; expected always, inherit, madvise or never.");
        lock (_storeLock)
        {
            Volatile.Write(ref _always, value == ThpSizeEnabled.Always ? _always | bit : _always & ~bit);
            Volatile.Write(ref _inherit, value == ThpSizeEnabled.Inherit ? _inherit | bit : _inherit & ~bit);
            Volatile.Write(ref _madvise, value == ThpSizeEnabled.Madvise ? _madvise | bit : _madvise & ~bit);
        }
    }

    /// <summary>
    /// The orders of <paramref name="orders"/> a page fault may use in an anonymous VMA with
    /// <paramref name="vmaFlags"/> (Linux <c>thp_vma_allowable_orders(vma, vm_flags, TVA_PAGEFAULT,
    /// orders)</c>): the always sizes; the madvise sizes when the VMA has VM_HUGEPAGE; the inherit
    /// sizes when the global setting is always, or is madvise and the VMA has VM_HUGEPAGE; none at
    /// all under VM_NOHUGEPAGE. Alignment and the VMA's bounds are the fault's business
    /// (<c>thp_vma_suitable_order</c>), not this.
    /// </summary>
    /// <returns>A bitmap: bit k set when order k is allowed.</returns>
    public uint AllowableOrders(VmaFlags vmaFlags, uint orders = AllAnonOrders)
    {
        bool advised = (vmaFlags & VmaFlags.HugePage) != 0;
        ThpEnabled global = Enabled;
        uint mask = Volatile.Read(ref _always);
        if (advised)
            mask |= Volatile.Read(ref _madvise);
        if (global == ThpEnabled.Always || (advised && global == ThpEnabled.Madvise))
            mask |= Volatile.Read(ref _inherit);

        orders &= mask & AllAnonOrders;
        if (orders == 0 || (vmaFlags & VmaFlags.NoHugePage) != 0)
            return 0;
        return orders;
    }

    /// <summary>
    /// <c>transparent_hugepage/shrink_underused</c> (Linux <c>split_underused_thp</c>, default on):
    /// PMD THPs mapped by a fault are queued for the deferred-split shrinker, which splits those
    /// with more than <see cref="MaxPtesNone"/> zero-filled pages.
    /// </summary>
    public bool ShrinkUnderused
    {
        get => Volatile.Read(ref _shrinkUnderused);
        set => Volatile.Write(ref _shrinkUnderused, value);
    }

    /// <summary>
    /// <c>transparent_hugepage/use_zero_page</c> (default on): a read fault that takes the PMD path
    /// maps the huge zero page; off, it allocates a PMD THP as a write would
    /// (<c>do_huge_pmd_anonymous_page</c>).
    /// </summary>
    public bool UseZeroPage
    {
        get => Volatile.Read(ref _useZeroPage);
        set => Volatile.Write(ref _useZeroPage, value);
    }

    /// <summary>
    /// <c>transparent_hugepage/defrag</c> (default madvise): whether a THP allocation may reclaim and
    /// compact directly. The model has no reclaim or compaction, so it changes no outcome here: an
    /// allocation that finds no free block falls back whatever this says, as Linux's does once
    /// reclaim and compaction have found nothing either.
    /// </summary>
    public ThpDefrag Defrag
    {
        get => (ThpDefrag)Volatile.Read(ref _defrag);
        set
        {
            if (!Enum.IsDefined(value))
                throw new ArgumentOutOfRangeException(nameof(value), value, $"{(int)value} is not a defrag setting; expected always, defer, defer+madvise, madvise or never.");
            Volatile.Write(ref _defrag, (int)value);
        }
    }

    /// <summary>
    /// <c>khugepaged/max_ptes_none</c> (default 511 = HPAGE_PMD_NR - 1): how many none or zero-page
    /// PTEs a collapse accepts in a PMD range, and how many zero-filled pages a PMD THP may hold
    /// before the shrinker calls it underused. At 511 no THP is ever underused (Linux
    /// <c>thp_underused</c> returns false at once).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not 0..511 (Linux: -EINVAL).</exception>
    public int MaxPtesNone
    {
        get => Volatile.Read(ref _maxPtesNone);
        set => Volatile.Write(ref _maxPtesNone, CheckPtesLimit(value, "max_ptes_none"));
    }

    /// <summary>
    /// <c>khugepaged/max_ptes_shared</c> (default 256): how many PTEs of pages mapped by more than
    /// one process khugepaged accepts in a collapse. MADV_COLLAPSE does not apply it
    /// (<c>cc-&gt;is_khugepaged</c> is false).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not 0..511 (Linux: -EINVAL).</exception>
    public int MaxPtesShared
    {
        get => Volatile.Read(ref _maxPtesShared);
        set => Volatile.Write(ref _maxPtesShared, CheckPtesLimit(value, "max_ptes_shared"));
    }

    /// <summary>
    /// <c>khugepaged/max_ptes_swap</c> (default 64): how many swap entries a collapse swaps in. The
    /// model has no swap, so no range ever has one.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not 0..511 (Linux: -EINVAL).</exception>
    public int MaxPtesSwap
    {
        get => Volatile.Read(ref _maxPtesSwap);
        set => Volatile.Write(ref _maxPtesSwap, CheckPtesLimit(value, "max_ptes_swap"));
    }

    private static int CheckPtesLimit(int value, string name)
    {
        if ((uint)value >= 1u << PageGeometry.PmdOrder)
            throw new ArgumentOutOfRangeException(nameof(value), value, $"khugepaged/{name} takes 0..{(1 << PageGeometry.PmdOrder) - 1}.");
        return value;
    }

    /// <summary>The path of a knob's file below <c>/sys/kernel/mm/transparent_hugepage</c>.</summary>
    public static string KnobPath(ThpKnob knob) => knob switch
    {
        ThpKnob.UseZeroPage => "use_zero_page",
        ThpKnob.ShrinkUnderused => "shrink_underused",
        ThpKnob.Defrag => "defrag",
        ThpKnob.MaxPtesNone => "khugepaged/max_ptes_none",
        ThpKnob.MaxPtesShared => "khugepaged/max_ptes_shared",
        ThpKnob.MaxPtesSwap => "khugepaged/max_ptes_swap",
        _ => throw new ArgumentOutOfRangeException(nameof(knob), knob, "No such THP knob."),
    };

    /// <summary>The knob whose file is <paramref name="path"/> below <c>transparent_hugepage</c>; false for any other name.</summary>
    public static bool TryParseKnob(string path, out ThpKnob knob)
    {
        ArgumentNullException.ThrowIfNull(path);
        foreach (ThpKnob candidate in Enum.GetValues<ThpKnob>())
        {
            if (path == KnobPath(candidate))
            {
                knob = candidate;
                return true;
            }
        }

        knob = default;
        return false;
    }

    /// <summary>
    /// Whether <paramref name="value"/> is what the knob's sysfs store accepts, and why not: the
    /// flags 0 or 1 (<c>single_hugepage_flag_store</c>, <c>kstrtobool</c>), defrag's five words, a
    /// decimal 0..511 for the khugepaged limits (<c>kstrtoul</c>, then <c>&gt; HPAGE_PMD_NR - 1</c>).
    /// </summary>
    /// <returns>Null when the write would succeed; otherwise what was expected.</returns>
    public static string? WhyInvalidKnobValue(ThpKnob knob, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string text = value.Trim();
        switch (knob)
        {
            case ThpKnob.UseZeroPage:
            case ThpKnob.ShrinkUnderused:
                return text is "0" or "1" ? null : "expected 0 or 1";
            case ThpKnob.Defrag:
                return TryParseDefrag(text, out _) ? null : "expected always, defer, defer+madvise, madvise or never";
            default:
                return text.Length is > 0 and <= 3 && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int limit)
                    && limit < 1 << PageGeometry.PmdOrder
                    ? null
                    : $"expected a decimal number from 0 to {(1 << PageGeometry.PmdOrder) - 1}";
        }
    }

    /// <summary>Writes a knob as <c>echo VALUE &gt; /sys/kernel/mm/transparent_hugepage/PATH</c> does.</summary>
    /// <exception cref="ArgumentException">A value the kernel's store refuses (-EINVAL); nothing changed.</exception>
    public void WriteKnob(ThpKnob knob, string value)
    {
        if (WhyInvalidKnobValue(knob, value) is { } why)
            throw new ArgumentException($"Cannot set {KnobPath(knob)} to {EchoedText.Quote(value)}: {why}.", nameof(value));
        string text = value.Trim();
        switch (knob)
        {
            case ThpKnob.UseZeroPage:
                UseZeroPage = text == "1";
                break;
            case ThpKnob.ShrinkUnderused:
                ShrinkUnderused = text == "1";
                break;
            case ThpKnob.Defrag:
                Defrag = TryParseDefrag(text, out ThpDefrag defrag) ? defrag : throw new UnreachableException();
                break;
            case ThpKnob.MaxPtesNone:
                MaxPtesNone = int.Parse(text, CultureInfo.InvariantCulture);
                break;
            case ThpKnob.MaxPtesShared:
                MaxPtesShared = int.Parse(text, CultureInfo.InvariantCulture);
                break;
            default:
                MaxPtesSwap = int.Parse(text, CultureInfo.InvariantCulture);
                break;
        }
    }

    /// <summary>The defrag setting a sysfs write names.</summary>
    public static bool TryParseDefrag(string text, out ThpDefrag value)
    {
        ArgumentNullException.ThrowIfNull(text);
        (bool known, value) = text.Trim() switch
        {
            "always" => (true, ThpDefrag.Always),
            "defer" => (true, ThpDefrag.Defer),
            "defer+madvise" => (true, ThpDefrag.DeferMadvise),
            "madvise" => (true, ThpDefrag.Madvise),
            "never" => (true, ThpDefrag.Never),
            _ => (false, default),
        };
        return known;
    }

    // ---------------------------------------------------------------- the sysfs text

    /// <summary>The global setting as sysfs shows it, e.g. <c>always [madvise] never</c>.</summary>
    public string FormatEnabled() => Enabled switch
    {
        ThpEnabled.Always => "[always] madvise never",
        ThpEnabled.Madvise => "always [madvise] never",
        _ => "always madvise [never]",
    };

    /// <summary>A size's setting as sysfs shows it, e.g. <c>always [inherit] madvise never</c>.</summary>
    public string FormatSizeEnabled(int order) => GetSizeEnabled(order) switch
    {
        ThpSizeEnabled.Always => "[always] inherit madvise never",
        ThpSizeEnabled.Inherit => "always [inherit] madvise never",
        ThpSizeEnabled.Madvise => "always inherit [madvise] never",
        _ => "always inherit madvise [never]",
    };

    /// <summary>Writes the global setting as <c>echo madvise &gt; enabled</c> does.</summary>
    /// <exception cref="ArgumentException">Not always, madvise or never (Linux: -EINVAL); nothing changed.</exception>
    public void WriteEnabled(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!TryParseEnabled(value, out ThpEnabled setting))
            throw new ArgumentException($"Cannot set transparent_hugepage/enabled to \"{value}\": expected always, madvise or never.", nameof(value));
        Enabled = setting;
    }

    /// <summary>Writes a size's setting as <c>echo always &gt; hugepages-64kB/enabled</c> does.</summary>
    /// <param name="size">The size as its sysfs directory names it: <c>16kB</c> .. <c>2048kB</c>.</param>
    /// <param name="value">always, inherit, madvise or never.</param>
    /// <exception cref="ArgumentException">No such size, or no such setting (Linux: -EINVAL); nothing changed.</exception>
    public void WriteSizeEnabled(string size, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int order = OrderOfSize(size);
        if (!TryParseSizeEnabled(value, out ThpSizeEnabled setting))
            throw new ArgumentException($"Cannot set hugepages-{size.Trim()}/enabled to \"{value}\": expected always, inherit, madvise or never.", nameof(value));
        SetSizeEnabled(order, setting);
    }

    /// <summary>The global setting a sysfs write names (Linux <c>sysfs_streq</c>: surrounding whitespace ignored).</summary>
    public static bool TryParseEnabled(string text, out ThpEnabled value)
    {
        ArgumentNullException.ThrowIfNull(text);
        (bool known, value) = text.Trim() switch
        {
            "always" => (true, ThpEnabled.Always),
            "madvise" => (true, ThpEnabled.Madvise),
            "never" => (true, ThpEnabled.Never),
            _ => (false, default),
        };
        return known;
    }

    /// <summary>The per-size setting a sysfs write names (surrounding whitespace ignored).</summary>
    public static bool TryParseSizeEnabled(string text, out ThpSizeEnabled value)
    {
        ArgumentNullException.ThrowIfNull(text);
        (bool known, value) = text.Trim() switch
        {
            "always" => (true, ThpSizeEnabled.Always),
            "inherit" => (true, ThpSizeEnabled.Inherit),
            "madvise" => (true, ThpSizeEnabled.Madvise),
            "never" => (true, ThpSizeEnabled.Never),
            _ => (false, default),
        };
        return known;
    }

    /// <summary>The sysfs name of an order's size: <c>64kB</c> for order 4.</summary>
    public static string SizeName(int order) => $"{(PageGeometry.PageSize >> 10) << order}kB";

    /// <summary>The order of a size named as sysfs names it (<c>16kB</c> .. <c>2048kB</c>).</summary>
    /// <exception cref="ArgumentException">Not a power-of-two size in kB of an anonymous mTHP order.</exception>
    public static int OrderOfSize(string size)
    {
        ArgumentNullException.ThrowIfNull(size);
        if (!TryOrderOfSize(size, out int order, out string? problem))
            throw new ArgumentException($"{EchoedText.Quote(size)} is not a THP size: {problem}.", nameof(size));
        return order;
    }

    /// <summary>
    /// <see cref="OrderOfSize"/> without the exception: false, with <paramref name="problem"/> saying
    /// why (a sentence that does not quote <paramref name="size"/>), when there is no such size.
    /// </summary>
    public static bool TryOrderOfSize(string size, out int order, [NotNullWhen(false)] out string? problem)
    {
        ArgumentNullException.ThrowIfNull(size);
        string text = size.Trim();
        problem = null;
        if (text.EndsWith("kB", StringComparison.Ordinal)
            && int.TryParse(text.AsSpan(0, text.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out int kb)
            && kb > 0 && BitOperations.IsPow2(kb))
        {
            order = BitOperations.Log2((uint)kb) - BitOperations.Log2((uint)(PageGeometry.PageSize >> 10));
            if (order >= 0 && ((AllAnonOrders >> order) & 1) != 0)
                return true;
            if (order == 1)
            {
                problem = "there is no hugepages-8kB: anonymous memory cannot use order 1 (an order-1 folio's deferred-split list would lie in the next folio's head page); expected 16kB to 2048kB";
                order = 0;
                return false;
            }
        }

        order = 0;
        problem = "there is no such hugepages-<size>kB directory; expected a size from 16kB to 2048kB, a power of two, written as sysfs writes it (64kB)";
        return false;
    }

    private static uint OrderBit(int order)
    {
        if ((uint)order > PageGeometry.PmdOrder || ((AllAnonOrders >> order) & 1) == 0)
        {
            string why = order == 1
                ? "anonymous memory cannot use order 1 (an order-1 folio's deferred-split list would lie in the next folio's head page)"
                : "it has no anonymous mTHP size";
            throw new ArgumentOutOfRangeException(nameof(order), order, $"Order {order} has no THP setting: {why}; expected {MinAnonOrder}..{PageGeometry.PmdOrder}.");
        }

        return 1u << order;
    }
}
