using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LargeFolios.Fuzz.Engine;
using LargeFolios.Fuzz.Targets;
using Xunit;

namespace LargeFolios.Fuzz.Tests;

/// <summary>
/// The harness can fail: targets with a bug planted behind an input the seed does not have are
/// caught by the engine, each as its kind of finding (an undocumented exception, a hang, memory
/// without bound, a huge allocation the code swallowed), and the finding is minimised.
/// </summary>
public class PlantedTargetTests
{
    private static FuzzReport Fuzz(IFuzzTarget target, TimeSpan? timeout = null, long memory = 1L << 30, bool minimize = false) =>
        InProcessEngine.Run(target, new FuzzOptions
        {
            Seed = 7,
            Runs = 400,
            SeedDirectories = [],
            Seeds = [Text("mmap 0x1000 4K\nwrite 0x1000\n")],
            Tokens = [Text("dump"), Text("read")],
            Timeout = timeout ?? TimeSpan.FromSeconds(10),
            MemoryLimitBytes = memory,
            Minimize = minimize,
        });

    [Fact]
    public void An_undocumented_exception_is_found_and_minimised()
    {
        FuzzReport report = Fuzz(new Planted(input =>
        {
            if (input.Contains((byte)0xff))
                throw new InvalidOperationException("planted");
        }), minimize: true);

        Finding finding = Assert.Single(report.Findings);
        Assert.Equal("exception:System.InvalidOperationException", finding.Id);
        Assert.Equal([0xff], finding.Input);
        Assert.True(report.Executions <= report.Seeds + 400);
    }

    [Fact]
    public void An_allowed_exception_is_not_a_finding_but_a_broken_check_is()
    {
        Assert.Empty(Fuzz(new Planted(_ => throw new FormatException("documented"), allowed: [typeof(FormatException)])).Findings);

        FuzzReport report = Fuzz(new Planted(input => TextChecks.Printable("message", "the message", System.Text.Encoding.UTF8.GetString(input))));
        Assert.Equal("message:control", Assert.Single(report.Findings).Id);
    }

    [Fact]
    public void A_hang_is_found()
    {
        FuzzReport report = Fuzz(new Planted((input, abandoned) =>
        {
            if (input.Length > 40)
                abandoned.WaitHandle.WaitOne();
        }), timeout: TimeSpan.FromMilliseconds(300));

        Assert.Equal("hang", Assert.Single(report.Findings).Id);
    }

    [Fact]
    public void Memory_that_grows_without_bound_is_found()
    {
        FuzzReport report = Fuzz(new Planted((input, abandoned) =>
        {
            if (!input.Contains((byte)'#'))
                return;
            var hoard = new List<byte[]>();
            while (!abandoned.IsCancellationRequested && hoard.Count < 64)
            {
                byte[] chunk = new byte[16 << 20];
                Array.Fill(chunk, (byte)1);
                hoard.Add(chunk);
                Thread.Sleep(5);
            }

            GC.KeepAlive(hoard);
        }), memory: 128L << 20);

        Assert.Equal("memory", Assert.Single(report.Findings).Id);
    }

    [Fact]
    public void A_huge_allocation_that_the_code_swallows_is_found()
    {
        // The test host runs under the harness's heap limit (the project file): 16 GiB cannot be had.
        Assert.True(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes <= 3L << 30, "System.GC.HeapHardLimit is not in force");
        FuzzReport report = Fuzz(new Planted(input =>
        {
            if (input.Length < 40)
                return;
            try
            {
                // What a damaged length does: an array nobody can have. The code under test copes...
                GC.KeepAlive(new long[Array.MaxLength - input.Length]);
            }
            catch (OutOfMemoryException)
            {
                // ...and goes on, as the trace reader does; the harness still saw the request.
            }
        }));

        Assert.Equal("memory:OutOfMemoryException", Assert.Single(report.Findings).Id);
    }

    [Fact]
    public void The_same_seed_makes_the_same_mutants()
    {
        byte[][] pool = [Text("mmap 0x40000000 4M\nwrite 0x40000000\ndump\n"), Text("stats\n")];
        byte[][] Make() => Enumerable.Range(0, 200)
            .Select(_ => (byte[]?)null)
            .Aggregate((new Mutator(new Random(3), [Text("dump")], text: true, 4096), new List<byte[]>()), (state, _) =>
            {
                state.Item2.Add(state.Item1.Mutate(pool[state.Item2.Count % 2], pool));
                return state;
            }).Item2.ToArray();

        byte[][] first = Make();
        byte[][] second = Make();
        Assert.Equal(first.Length, second.Length);
        Assert.All(first.Zip(second), pair => Assert.Equal(pair.First, pair.Second));
        Assert.True(first.Distinct(new BytesComparer()).Count() > 100, "the mutants are mostly different");
        Assert.All(first, mutant => Assert.True(mutant.Length <= 4096));
    }

    private static byte[] Text(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    private sealed class BytesComparer : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length;
    }

    /// <summary>A target that runs a planted bug; <paramref name="allowed"/> are its documented exceptions.</summary>
    private sealed class Planted(Action<byte[], CancellationToken> run, Type[]? allowed = null) : IFuzzTarget
    {
        public Planted(Action<byte[]> run, Type[]? allowed = null)
            : this((input, _) => run(input), allowed)
        {
        }

        public string Name => "planted";

        public bool IsText => true;

        public int MaxInputBytes => 4096;

        public string Run(byte[] input, CancellationToken abandoned)
        {
            try
            {
                run(input, abandoned);
                return "ok";
            }
            catch (Exception e) when (allowed is not null && AllowedExceptions.IsAllowed(e, allowed))
            {
                return e.GetType().Name;
            }
        }
    }
}
