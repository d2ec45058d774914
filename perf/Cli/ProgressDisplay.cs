using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Spectre.Console;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// Runs a job and, if it is still running after <see cref="ShowAfter"/>, draws a progress bar for
/// it on an interactive terminal. Short jobs, redirected output and tests never see a bar, so what
/// they capture is the report alone.
/// </summary>
internal sealed class ProgressDisplay
{
    /// <summary>How long a job runs before its bar appears.</summary>
    public static readonly TimeSpan ShowAfter = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan s_pollInterval = TimeSpan.FromMilliseconds(100);

    private readonly IAnsiConsole? _console;

    /// <summary>Creates a display drawing on <paramref name="console"/>; null draws nothing.</summary>
    public ProgressDisplay(IAnsiConsole? console) => _console = console;

    /// <summary>A display that only runs jobs.</summary>
    public static ProgressDisplay None { get; } = new(null);

    /// <summary>
    /// Draws one part: nothing moves until it has started; its counted units fill the bar short of
    /// the end until the job finishes the part, and meanwhile the bar says it is finishing (a 32G
    /// address space takes seconds to tear down after its last fault).
    /// </summary>
    internal static void Update(ProgressTask bar, string description, WorkProgress progress)
    {
        if (!progress.Started)
            return;
        if (!bar.IsStarted)
            bar.StartTask();
        bar.MaxValue = Math.Max(1, progress.Total);
        bar.Value = progress.Finished ? bar.MaxValue : Math.Min(progress.Done, bar.MaxValue * 0.999);
        bar.Description = progress.Finishing ? description + " [grey](finishing)[/]" : description;
        if (progress.Finished && !bar.IsFinished)
            bar.StopTask();
    }

    /// <summary>
    /// Runs <paramref name="job"/> to completion, showing <paramref name="progress"/> under
    /// <paramref name="description"/> once it has taken longer than <see cref="ShowAfter"/>.
    /// </summary>
    /// <returns>The job's result; its exception, if it threw.</returns>
    public T Run<T>(string description, WorkProgress progress, Func<T> job) => Run([(description, progress)], job);

    /// <summary>As <see cref="Run{T}(string, WorkProgress, Func{T})"/>, with a bar for each part of the job.</summary>
    public T Run<T>(IReadOnlyList<(string Description, WorkProgress Progress)> parts, Func<T> job)
    {
        ArgumentNullException.ThrowIfNull(parts);
        ArgumentNullException.ThrowIfNull(job);
        if (_console == null)
            return job();

        // The job gets its own thread so this one can draw; jobs start their own workers anyway.
        Task<T> running = Task.Factory.StartNew(job, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        // Waiting on the job itself would throw its exception wrapped; this one never faults, and
        // the job's own exception comes out unwrapped at the end.
        Task ended = running.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        if (!ended.Wait(ShowAfter))
        {
            var progressOf = new Dictionary<int, WorkProgress>();
            _console.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new WorkElapsedColumn(progressOf))
                .Start(context =>
                {
                    var bars = new List<(ProgressTask Bar, string Description, WorkProgress Progress)>();
                    foreach (var (description, progress) in parts)
                    {
                        string text = Markup.Escape(description);
                        ProgressTask bar = context.AddTask(text, autoStart: false, maxValue: 1);
                        progressOf[bar.Id] = progress;
                        bars.Add((bar, text, progress));
                    }

                    do
                    {
                        foreach (var (bar, description, progress) in bars)
                            Update(bar, description, progress);
                    }
                    while (!ended.Wait(s_pollInterval));

                    foreach (var (bar, description, _) in bars)
                    {
                        bar.Description = description;
                        bar.Value = bar.MaxValue;
                    }
                });
        }

        return running.GetAwaiter().GetResult();
    }
}
