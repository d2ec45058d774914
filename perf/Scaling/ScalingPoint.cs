namespace LargeFolios.Folios.Scaling;

/// <summary>One measurement of <see cref="ScalingRun"/>: a thread count at one folio order.</summary>
/// <param name="Threads">Threads populating at once.</param>
/// <param name="Order">The one folio order the policy allowed (0, 4 = 64 KiB, 9 = 2 MiB).</param>
/// <param name="Seconds">The best round's wall time of its slowest thread.</param>
/// <param name="GigabytesPerSecond">Memory populated per second, all threads together (10^9 bytes).</param>
/// <param name="SpeedUp">Against one thread at the same order.</param>
/// <param name="NanosecondsPerPage">Per 4 KiB page, per thread.</param>
internal sealed record ScalingPoint(int Threads, int Order, double Seconds, double GigabytesPerSecond, double SpeedUp, double NanosecondsPerPage);
