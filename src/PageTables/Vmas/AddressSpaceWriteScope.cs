using System;

namespace LargeFolios.PageTables;

/// <summary>
/// A held write side of an <see cref="AddressSpaceLock"/>, released by <see cref="Dispose"/>: what
/// <c>using (vmas.Lock.Write()) { ... }</c> holds to group several <see cref="VmaSet"/> changes (and
/// the page-table work that goes with them) so no fault sees the state between them.
/// </summary>
public readonly struct AddressSpaceWriteScope : IDisposable
{
    private readonly AddressSpaceLock? _lock;

    internal AddressSpaceWriteScope(AddressSpaceLock addressSpaceLock) => _lock = addressSpaceLock;

    /// <summary>Releases the write side; a default scope holds nothing and releases nothing.</summary>
    public void Dispose() => _lock?.ExitWrite();
}
