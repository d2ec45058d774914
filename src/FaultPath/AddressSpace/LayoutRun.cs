namespace LargeFolios.FaultPath;

/// <summary>
/// One line of a layout dump: a maximal run of consecutive virtual pages that map consecutive
/// pages of one folio, or a run of zero-page mappings (the 4 KiB zero page or the huge zero page).
/// </summary>
/// <param name="Address">The first virtual address.</param>
/// <param name="Pages">How many pages the run covers.</param>
/// <param name="Order">The folio's order; -1 for a zero-page run.</param>
/// <param name="Pfn">The PFN the first page maps (the zero page's for a 4 KiB zero run).</param>
public readonly record struct LayoutRun(ulong Address, long Pages, int Order, uint Pfn)
{
    /// <summary>True for a run of zero-page mappings.</summary>
    public bool IsZero => Order < 0;

    /// <summary>The run as <c>dump</c> prints it: <c>0x&lt;va&gt; &lt;pages&gt; o&lt;order&gt;</c> or <c>0x&lt;va&gt; &lt;pages&gt; zero</c>.</summary>
    public override string ToString() => IsZero ? $"0x{Address:x} {Pages} zero" : $"0x{Address:x} {Pages} o{Order}";
}
