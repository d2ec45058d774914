using LargeFolios.FaultPath;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>One fault timed from its FaultStart to its FaultStop.</summary>
/// <param name="Nanoseconds">Start to stop.</param>
/// <param name="Kind">What the fault did.</param>
/// <param name="Order">The order of what it mapped.</param>
internal readonly record struct FaultSample(double Nanoseconds, FaultKind Kind, int Order);
