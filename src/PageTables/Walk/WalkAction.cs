namespace LargeFolios.PageTables;

/// <summary>
/// What <see cref="PageTableTree.WalkRange{TVisitor}"/> does after a visitor has seen an entry
/// (Linux <c>enum page_walk_action</c>).
/// </summary>
public enum WalkAction
{
    /// <summary>Go down: for a PMD entry that maps a PTE table, visit its PTEs next (Linux <c>ACTION_SUBTREE</c>).</summary>
    Subtree,

    /// <summary>Done with this entry: go on to the next one at the same level (Linux <c>ACTION_CONTINUE</c>).</summary>
    Continue,

    /// <summary>
    /// The visitor changed the entry (split a leaf, faulted a hole in): read it again and visit it
    /// as it is now (Linux <c>ACTION_AGAIN</c>). A visitor returns it only when the entry did change,
    /// or the walk never ends.
    /// </summary>
    Again,
}
