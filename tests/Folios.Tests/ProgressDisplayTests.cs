using System;
using System.IO;
using System.Threading;
using LargeFolios.Folios.Cli;
using Spectre.Console;
using Xunit;

namespace LargeFolios.Folios.Tests;

public sealed class ProgressDisplayTests : IDisposable
{
    private readonly StringWriter _terminal = new();
    private readonly ProgressDisplay _display;

    public ProgressDisplayTests() => _display = new ProgressDisplay(AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(_terminal),
        Ansi = AnsiSupport.Yes,
        Interactive = InteractionSupport.Yes,
    }));

    public void Dispose() => _terminal.Dispose();

    [Fact]
    public void A_short_job_draws_nothing()
    {
        Assert.Equal(42, _display.Run("short", new WorkProgress(), () => 42));
        Assert.Equal("", _terminal.ToString());
    }

    [Fact]
    public void A_long_job_draws_its_bar()
    {
        var progress = new WorkProgress();
        progress.Plan(2);

        int result = _display.Run("long job", progress, () =>
        {
            progress.Advance(1);
            Thread.Sleep(ProgressDisplay.ShowAfter + TimeSpan.FromMilliseconds(300));
            progress.Advance(1);
            return 7;
        });

        Assert.Equal(7, result);
        Assert.Contains("long job", _terminal.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_part_waiting_its_turn_has_no_clock_and_an_empty_bar()
    {
        var waiting = new WorkProgress();
        var bar = new ProgressTask(1, "second", 1, autoStart: false);

        ProgressDisplay.Update(bar, "second", waiting);

        Assert.False(bar.IsStarted);
        Assert.False(waiting.Started);
        Assert.Equal(TimeSpan.Zero, waiting.Elapsed);
        Assert.Equal(0, bar.Value);
    }

    [Fact]
    public void Counted_units_done_before_the_job_is_shown_as_finishing_not_as_done()
    {
        var progress = new WorkProgress();
        var bar = new ProgressTask(1, "64K", 1, autoStart: false);
        progress.Plan(100);
        progress.Advance(100);

        ProgressDisplay.Update(bar, "64K", progress);

        Assert.True(bar.IsStarted);
        Assert.True(bar.Value < bar.MaxValue, "a bar at 100% while the teardown runs");
        Assert.Equal("64K [grey](finishing)[/]", bar.Description);

        progress.Finish();
        ProgressDisplay.Update(bar, "64K", progress);

        Assert.Equal(bar.MaxValue, bar.Value);
        Assert.Equal("64K", bar.Description);
        Assert.True(bar.IsFinished);
    }

    [Fact]
    public void The_clock_runs_from_the_first_plan_to_finish()
    {
        var progress = new WorkProgress();
        var outer = System.Diagnostics.Stopwatch.StartNew();
        Thread.Sleep(50);   // before the plan: not the part's time
        progress.Plan(1);
        Thread.Sleep(50);
        progress.Finish();
        TimeSpan atFinish = outer.Elapsed;
        TimeSpan elapsed = progress.Elapsed;
        Thread.Sleep(20);

        Assert.True(elapsed >= TimeSpan.FromMilliseconds(45), $"{elapsed}");
        Assert.True(elapsed <= atFinish - TimeSpan.FromMilliseconds(45), $"{elapsed} of {atFinish}: the clock started before the plan");
        Assert.Equal(elapsed, progress.Elapsed);   // stopped
    }

    [Fact]
    public void A_jobs_exception_comes_out_as_it_was_thrown()
    {
        InvalidOperationException thrown = Assert.Throws<InvalidOperationException>(() =>
            _display.Run<int>("failing", new WorkProgress(), () => throw new InvalidOperationException("the job's own")));

        Assert.Equal("the job's own", thrown.Message);
    }

    [Fact]
    public void Without_a_terminal_the_job_runs_on_the_callers_thread()
    {
        int caller = Environment.CurrentManagedThreadId;

        Assert.Equal(caller, ProgressDisplay.None.Run("inline", new WorkProgress(), () => Environment.CurrentManagedThreadId));
    }
}
