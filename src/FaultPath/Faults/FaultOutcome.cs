namespace LargeFolios.FaultPath;

/// <summary>
/// How one branch of the fault handler ended, before the fault as a whole has a
/// <see cref="FaultResult"/>. A branch returns it and, when it handled the fault, the result in an
/// <c>out</c> parameter.
/// </summary>
/// <remarks>
/// <code>
/// outcome                 returned by                                  the caller then
/// Handled                 every branch that finished the fault          takes the result (which may be OutOfMemory)
/// Retry                   a branch whose entry changed under it         goes back to the top of __handle_mm_fault:
///                         (a racing fault or split got there first)     the re-executed access would fault again
/// Fallback                the PMD level, declining (range outside the   goes on at the PTE level (handle_pte_fault)
///                         VMA; no huge zero page; not a leaf it handles)
/// PmdAllocationFallback   the PMD level, when no PMD-sized folio could  goes on at the PTE level, and the result
///                         be allocated (thp_fault_fallback counted)     records the PMD order as tried and failed
/// </code>
/// Linux says the same with VM_FAULT_FALLBACK and a return to the top; nothing outside the handler
/// sees these.
/// </remarks>
internal enum FaultOutcome : byte
{
    /// <summary>The branch finished the fault; its result says how.</summary>
    Handled,

    /// <summary>The entry the branch acted on changed first: start the fault again.</summary>
    Retry,

    /// <summary>The PMD level declined: go on at the PTE level.</summary>
    Fallback,

    /// <summary>The PMD THP could not be allocated: go on at the PTE level, recording the attempt.</summary>
    PmdAllocationFallback,
}
