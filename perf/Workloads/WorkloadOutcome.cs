namespace LargeFolios.Folios.Workloads;

/// <summary>How a workload run ended.</summary>
internal enum WorkloadOutcome
{
    /// <summary>Every iteration ran to the end.</summary>
    Completed,

    /// <summary>An access would have got SIGSEGV (<see cref="FaultPath.SegmentationFaultException"/>); the thread stopped there.</summary>
    SegmentationFault,

    /// <summary>A fault found no memory (VM_FAULT_OOM); the thread stopped there.</summary>
    OutOfMemory,
}
