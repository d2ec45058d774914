namespace LargeFolios.PageTables;

/// <summary>
/// What a range walk (<see cref="PageTableTree.WalkRange{TVisitor}"/>) does at each entry: the
/// callbacks of Linux's <c>struct mm_walk_ops</c> that the anonymous-memory paths use. Implement it
/// on a struct and pass it by reference: the walk is specialised for the visitor, its callbacks
/// inline, and its state (counters, the run being built) lives in the struct.
/// </summary>
/// <remarks>
/// <para>Every callback gets the part of the walked range its entry covers, [address, limit), and
/// answers a <see cref="WalkAction"/>. The walk takes no lock and holds no reference: the caller
/// keeps the tables from being freed (the address-space lock, either side), and a visitor takes the
/// PMD or PTE table lock itself where it changes entries, as Linux's own visitors do.</para>
/// <para>Linux calls <c>pte_entry</c> once per PTE, under the PTE lock. Here <see cref="PteRange"/>
/// gets the whole slice of one PTE table at once and takes the lock itself, because every visitor
/// here works in folio batches (<c>folio_pte_batch</c>) and some must drop the lock midway (to
/// split a folio, to fault a page in), as Linux's <c>zap_pte_range</c> and
/// <c>madvise_free_pte_range</c> do inside their <c>pmd_entry</c>.</para>
/// </remarks>
public interface IPageWalkVisitor
{
    /// <summary>
    /// Linux <c>pte_hole</c>: nothing maps [<paramref name="address"/>, <paramref name="limit"/>),
    /// because the entry of <paramref name="level"/> above it is none (no PUD table, no PMD table,
    /// or a none PMD entry).
    /// </summary>
    /// <returns><see cref="WalkAction.Again"/> after filling the hole in (a fault that installed
    /// tables), to walk what is there now; anything else goes on past the hole.</returns>
    WalkAction PteHole(ulong address, ulong limit, PageTableLevel level);

    /// <summary>Linux <c>pmd_entry</c>: a PMD entry that is a leaf or maps a PTE table.</summary>
    /// <returns><see cref="WalkAction.Subtree"/> to visit the PTE table (nothing for a leaf: split it
    /// and answer <see cref="WalkAction.Again"/> to walk its PTEs), <see cref="WalkAction.Continue"/>
    /// to skip it, <see cref="WalkAction.Again"/> to read it again.</returns>
    WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit);

    /// <summary>The PTEs of <paramref name="table"/> for [<paramref name="address"/>, <paramref name="limit"/>), under the PMD entry <paramref name="pmd"/>.</summary>
    /// <returns><see cref="WalkAction.Again"/> to visit the PMD entry again (it changed); anything else goes on.</returns>
    WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit);
}
