namespace LargeFolios.FaultPath;

/// <summary>The outcome of one page fault.</summary>
/// <param name="Kind">What the fault did.</param>
/// <param name="Order">The order of the folio it mapped (<see cref="FaultKind.Folio"/>,
/// <see cref="FaultKind.PmdFolio"/>, <see cref="FaultKind.CopyOnWrite"/>); 9 for the huge zero page; 0 otherwise.</param>
/// <param name="Fallbacks">How many orders the allocation gave up on before it succeeded (each one
/// counted in <c>anon_fault_fallback</c>), the PMD order included.</param>
/// <param name="OrdersTried">A bit per order the fault tried to allocate a folio of, the one it got
/// (or, out of memory, the last it failed) included. The fault tries them from the highest down:
/// the PMD order, the mTHP orders whose range was free, then 0. 0 for a fault that allocated nothing.</param>
public readonly record struct FaultResult(FaultKind Kind, int Order = 0, int Fallbacks = 0, uint OrdersTried = 0);
