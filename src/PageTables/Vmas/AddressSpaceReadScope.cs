using System;

namespace LargeFolios.PageTables;

/// <summary>
/// A held read side of an <see cref="AddressSpaceLock"/>, released by <see cref="Dispose"/>: what
/// <c>using (vmas.Lock.Read()) { ... }</c> holds, so a fault that throws half-way through its walk
/// still lets writers in. A struct, so taking the lock allocates nothing.
/// </summary>
public readonly struct AddressSpaceReadScope : IDisposable
{
    private readonly AddressSpaceLock? _lock;
    private readonly int _thread;

    internal AddressSpaceReadScope(AddressSpaceLock addressSpaceLock, int thread)
    {
        _lock = addressSpaceLock;
        _thread = thread;
    }

    /// <summary>Releases the read side; a default scope holds nothing and releases nothing.</summary>
    public void Dispose() => _lock?.ExitRead(_thread);
}
