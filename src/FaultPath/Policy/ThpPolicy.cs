using System;
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
    private int _maxPtesNone = (1 << PageGeometry.PmdOrder) - 1;

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
    /// <c>khugepaged/max_ptes_none</c> (default 511 = HPAGE_PMD_NR - 1): how many zero-filled pages
    /// a PMD THP may hold before the shrinker calls it underused. At 511 no THP is ever underused
    /// (Linux <c>thp_underused</c> returns false at once).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not 0..511 (Linux: -EINVAL).</exception>
    public int MaxPtesNone
    {
        get => Volatile.Read(ref _maxPtesNone);
        set
        {
            if ((uint)value >= 1u << PageGeometry.PmdOrder)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"khugepaged/max_ptes_none takes 0..{(1 << PageGeometry.PmdOrder) - 1}.");
            Volatile.Write(ref _maxPtesNone, value);
        }
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
