namespace LargeFolios.FaultPath;

/// <summary>
/// A mapping's protection, as <c>mmap</c> and <c>mprotect</c> take it (Linux's PROT_* bits as the
/// values): what loads and stores the VMA allows. A private anonymous VMA never has PROT_WRITE
/// without PROT_READ on x86-64 (a write-only mapping is readable anyway), so these three are all a
/// scenario names.
/// </summary>
public enum MemoryProtection
{
    /// <summary>PROT_NONE (0): no access; entries keep their folios (pagemap still reports them present).</summary>
    None = 0,

    /// <summary>PROT_READ (1): loads only; a store is SIGSEGV.</summary>
    Read = 1,

    /// <summary>PROT_READ | PROT_WRITE (3): loads and stores.</summary>
    ReadWrite = 3,
}
