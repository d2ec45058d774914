namespace LargeFolios.PageTables;

/// <summary>
/// A read-only view of a <see cref="PageTableTree"/>: what the entries say and how many table pages
/// there are, read as the MMU reads them (single loads, no lock). What an owner of the tables (an
/// address space) hands out, so that a caller can inspect them but only the owner, which keeps rmap,
/// references and RSS in step with every entry, can change them.
/// </summary>
/// <remarks>
/// A read races the owner's changes as a hardware walk would, and is valid only while the tables
/// exist: reading while the owner is torn down is a caller's bug.
/// </remarks>
public readonly struct PageTableView
{
    private readonly PageTableTree _tree;

    internal PageTableView(PageTableTree tree) => _tree = tree;

    /// <summary>Page-table pages in use (<see cref="PageTableTree.TablePages"/>).</summary>
    public long TablePages => _tree.TablePages;

    /// <summary>The /proc/meminfo line for these tables.</summary>
    public string MeminfoLine => _tree.MeminfoLine;

    /// <summary>The PMD entry covering <paramref name="address"/>, or none when no PMD table exists.</summary>
    /// <exception cref="BadAddressException">The address is beyond user space.</exception>
    public Pte ReadPmd(ulong address) => _tree.ReadPmd(address);

    /// <summary>The PTE mapping <paramref name="address"/>, or none when no PTE table exists (or a PMD leaf maps it).</summary>
    /// <exception cref="BadAddressException">The address is beyond user space.</exception>
    public Pte ReadPte(ulong address) => _tree.ReadPte(address);

    /// <summary>PTE tables deposited beside the PMD leaves of the PMD table covering <paramref name="address"/>.</summary>
    public int DepositedTables(ulong address) => _tree.DepositedTables(address);

    /// <summary>Checks every invariant of the tables (<see cref="PageTableTree.Validate"/>).</summary>
    /// <exception cref="PageTableCorruptionException">An invariant is broken.</exception>
    public void Validate() => _tree.Validate();
}
