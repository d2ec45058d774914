using System.Collections.Generic;
using Xunit;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Everything a page-table operation could change: every non-none entry at every level with the
/// table it lives in, the table count, and the arena's free pages. Equal snapshots mean an
/// operation that failed changed nothing.
/// </summary>
internal sealed unsafe class TreeSnapshot
{
    private readonly List<(uint Table, int Index, ulong Value)> _entries = [];
    private readonly long _tablePages;
    private readonly long _freePages;

    private TreeSnapshot(PageTableTree tree)
    {
        _tablePages = tree.TablePages;
        _freePages = tree.Arena.FreePages + tree.Arena.CachedPages;
        Collect(tree, tree.PgdPfn, level: 0);
    }

    public static TreeSnapshot Take(PageTableTree tree) => new(tree);

    public void AssertUnchanged(PageTableTree tree)
    {
        var now = Take(tree);
        Assert.Equal(_tablePages, now._tablePages);
        Assert.Equal(_freePages, now._freePages);
        Assert.Equal(_entries, now._entries);
        tree.Validate();
    }

    private void Collect(PageTableTree tree, uint table, int level)
    {
        Pte* entries = tree.EntriesOf(table);
        for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
        {
            Pte e = entries[i];
            if (e.IsNone)
                continue;
            _entries.Add((table, i, e.Value));
            if (level < 3 && e.IsTable)
                Collect(tree, (uint)e.Pfn, level + 1);
        }
    }
}
