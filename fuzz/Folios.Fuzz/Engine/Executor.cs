using System;
using System.Diagnostics;
using System.Threading;
using LargeFolios.Fuzz.Targets;

namespace LargeFolios.Fuzz.Engine;

/// <summary>
/// Runs inputs through a target on a worker thread of its own, under a time bound (a hang) and a
/// memory bound (memory that grows past the bound while an input runs, or accumulates over many).
/// .NET cannot stop a thread, so an input that breaks a bound leaves its worker behind (a
/// background thread, its cancellation token cancelled) and the next input gets a new worker;
/// a process that meets a hang should end soon after (the <c>run</c> command exits).
/// </summary>
public sealed class Executor : IDisposable
{
    private const int PollMilliseconds = 20;
    private const int LeakCheckInterval = 256;

    private readonly IFuzzTarget _target;
    private readonly TimeSpan _timeout;
    private readonly long _memoryLimit;
    private readonly long _baselineManaged;
    private readonly long _baselineResident;
    private Worker? _worker;
    private long _executions;

    /// <summary>Creates an executor for <paramref name="target"/>.</summary>
    /// <param name="target">The target.</param>
    /// <param name="timeout">The longest an input may run.</param>
    /// <param name="memoryLimit">The most the managed heap may grow over what it was when the executor was created (the resident set: twice that).</param>
    public Executor(IFuzzTarget target, TimeSpan timeout, long memoryLimit)
    {
        ArgumentNullException.ThrowIfNull(target);
        _target = target;
        _timeout = timeout;
        _memoryLimit = memoryLimit;
        _baselineManaged = GC.GetTotalMemory(forceFullCollection: true);
        _baselineResident = Environment.WorkingSet;
    }

    /// <summary>Workers left behind by hangs and memory findings.</summary>
    public int Abandoned { get; private set; }

    /// <summary>Runs <paramref name="input"/>: the target's outcome key, or the finding it made.</summary>
    public (string? Outcome, Finding? Finding) Execute(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _worker ??= new Worker(_target);
        Worker worker = _worker;
        worker.Start(input);
        var clock = Stopwatch.StartNew();
        while (!worker.Done.Wait(PollMilliseconds))
        {
            bool hang = clock.Elapsed > _timeout;

            // Skipping memory is safe: the heap's hard limit still ends a runaway input (OutOfMemoryWatch).
            string? over = hang ? $"the input ran for more than {_timeout.TotalSeconds:0.###} s" : Checks.IsSkipped("memory") ? null : MemoryOver(collect: true);
            if (over is not null)
            {
                string check = hang ? "hang" : "memory";
                Abandon();
                return (null, new Finding(_target.Name, check, "", over, "", input));
            }
        }

        if (++_executions % LeakCheckInterval == 0 && !Checks.IsSkipped("memory") && MemoryOver(collect: true) is { } leak)
            return (null, new Finding(_target.Name, "memory", "", $"accumulated over {_executions} inputs, this one the last: {leak}", "", input));

        if (worker.Error is not { } error)
            return (worker.Outcome, null);
        Finding finding = Finding.FromException(_target.Name, error, input);

        // An undocumented exception skipped by FOLIOS_FUZZ_SKIP (exception:TYPE) is an outcome like any other.
        return Checks.IsSkipped(finding.Id) ? ($"skipped {finding.Id}", null) : (null, finding);
    }

    /// <summary>Stops the worker when it is idle; one still running an input is let go, its token cancelled.</summary>
    public void Dispose()
    {
        if (_worker is { } worker && worker.Done.IsSet)
            worker.Stop();
        else
            Abandon();
    }

    private void Abandon()
    {
        if (_worker is null)
            return;
        _worker.Cancel();
        _worker = null;
        Abandoned++;
    }

    /// <summary>What is over the memory bound, or null.</summary>
    private string? MemoryOver(bool collect)
    {
        long managed = GC.GetTotalMemory(forceFullCollection: false) - _baselineManaged;
        if (managed > _memoryLimit && collect)
            managed = GC.GetTotalMemory(forceFullCollection: true) - _baselineManaged;
        if (managed > _memoryLimit)
            return $"the managed heap grew by {managed >> 20} MiB (the bound is {_memoryLimit >> 20} MiB)";
        long resident = Environment.WorkingSet - _baselineResident;
        return resident > 2 * _memoryLimit
            ? $"the resident set grew by {resident >> 20} MiB (the bound is {2 * _memoryLimit >> 20} MiB)"
            : null;
    }

    /// <summary>A thread that runs the inputs it is handed, one at a time.</summary>
    /// <remarks>
    /// Its semaphore and token source live as long as its thread, which may be stuck in an
    /// abandoned input for good: nothing can safely dispose them, and the GC takes them with it.
    /// </remarks>
#pragma warning disable CA1001
    private sealed class Worker
    {
        private readonly IFuzzTarget _target;
        private readonly SemaphoreSlim _start = new(0);
        private readonly CancellationTokenSource _abandoned = new();
        private byte[] _input = [];
        private bool _stopped;

        public Worker(IFuzzTarget target)
        {
            _target = target;

            // A deep stack: the readers recurse little, but a stack overflow would end the process
            // where no finding can be written (the engine's last-input file then names the input).
            var thread = new Thread(Loop, maxStackSize: 64 << 20) { IsBackground = true, Name = $"fuzz {target.Name}" };
            thread.Start();
        }

        /// <summary>Set while the worker is idle: before its first input and after each.</summary>
        public ManualResetEventSlim Done { get; } = new(true);

        public string? Outcome { get; private set; }

        public Exception? Error { get; private set; }

        public void Start(byte[] input)
        {
            _input = input;
            Outcome = null;
            Error = null;
            Done.Reset();
            _start.Release();
        }

        public void Cancel() => _abandoned.Cancel();

        public void Stop()
        {
            _stopped = true;
            _start.Release();
        }

        private void Loop()
        {
            while (true)
            {
                _start.Wait();
                if (_stopped || _abandoned.IsCancellationRequested)
                    return;
                try
                {
                    OutOfMemoryWatch.Begin();
                    Outcome = _target.Run(_input, _abandoned.Token);
                    if (OutOfMemoryWatch.End() is { } oom)
                        Checks.Fail("memory", $"the input asked for more memory than the heap's hard limit, and the code under test went on: {oom}", detail: "OutOfMemoryException", where: OutOfMemoryWatch.Where);
                }
#pragma warning disable CA1031 // Whatever the target throws is the finding, reported by the engine.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    // An escaping OutOfMemoryException is the memory finding too, not only an exception.
                    Error = OutOfMemoryWatch.End() is { } oom && !Checks.IsSkipped("memory:OutOfMemoryException")
                        ? new FindingException("memory", $"the input asked for more memory than the heap's hard limit: {oom}", e, "OutOfMemoryException", OutOfMemoryWatch.Where)
                        : e;
                }

                Done.Set();
            }
        }
    }
#pragma warning restore CA1001
}
