using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Fuzzing;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary><c>folios fuzz</c>'s parts: the generator's scenarios and the reducer.</summary>
public sealed class ScenarioFuzzingTests
{
    [Fact]
    public void A_seed_always_gives_the_same_scenario_and_another_seed_another()
    {
        Assert.Equal(ScenarioGenerator.Generate(7), ScenarioGenerator.Generate(7));
        Assert.NotEqual(ScenarioGenerator.Generate(7), ScenarioGenerator.Generate(8));
    }

    [Fact]
    public void Generated_scenarios_are_well_formed_and_together_use_every_command_and_advice()
    {
        var verbs = new HashSet<ScenarioVerb>();
        var advices = new HashSet<MadviseAdvice>();
        var knobs = new HashSet<ThpKnob>();
        var protections = new HashSet<MemoryProtection>();
        for (int seed = 0; seed < 300; seed++)
        {
            IReadOnlyList<string> lines = ScenarioGenerator.Generate(seed);
            List<ScenarioCommand> commands = ScenarioReader.Read(new StringReader(string.Join('\n', lines)), $"seed {seed}").ToList();
            foreach (ScenarioCommand command in commands)
            {
                verbs.Add(command.Verb);
                if (command.Verb == ScenarioVerb.Madvise)
                    advices.Add(command.Advice);
                if (command.Verb == ScenarioVerb.ThpKnob)
                    knobs.Add(command.Knob);
                if (command.Verb is ScenarioVerb.Mmap or ScenarioVerb.Mprotect)
                    protections.Add(command.Protection);
            }

            Assert.Equal(ScenarioVerb.Stats, commands[^1].Verb);
            Assert.Equal(ScenarioVerb.Dump, commands[^2].Verb);
        }

        Assert.Equal(Enum.GetValues<ScenarioVerb>().ToHashSet(), verbs);
        Assert.Equal(Enum.GetValues<MadviseAdvice>().ToHashSet(), advices);
        Assert.Equal(Enum.GetValues<ThpKnob>().ToHashSet(), knobs);
        Assert.Equal(Enum.GetValues<MemoryProtection>().ToHashSet(), protections);
    }

    [Fact]
    public void Generated_addresses_stay_in_the_window_or_are_meant_to_be_bad()
    {
        for (int seed = 0; seed < 100; seed++)
        {
            foreach (ScenarioCommand command in ScenarioReader.Read(new StringReader(string.Join('\n', ScenarioGenerator.Generate(seed))), "s"))
            {
                if (command.Verb is not (ScenarioVerb.Mmap or ScenarioVerb.Munmap or ScenarioVerb.Mprotect or ScenarioVerb.Madvise or ScenarioVerb.Read or ScenarioVerb.Write))
                    continue;
                bool inWindow = command.Address >= ScenarioGenerator.Window && command.Address < ScenarioGenerator.Window + ScenarioGenerator.WindowSize;
                Assert.True(inWindow || command.Address == 0x7ffffff00000, $"seed {seed}: {command}");
            }
        }
    }

    [Fact]
    public void The_reducer_keeps_only_the_lines_the_failure_needs()
    {
        string[] lines = ["# a comment", "mmap 0 4K", "a", "write 0", "b", "dump", "c", "stats"];
        int checks = 0;

        IReadOnlyList<string> reduced = ScenarioReducer.Reduce(lines, candidate =>
        {
            checks++;
            var list = candidate.ToList();
            return list.Contains("a") && list.Contains("c") && list.IndexOf("a") < list.IndexOf("c");
        });

        Assert.Equal(["a", "c"], reduced);
        Assert.InRange(checks, 1, 40);
    }

    [Fact]
    public void The_reducer_stops_at_its_budget()
    {
        string[] lines = Enumerable.Range(0, 200).Select(i => $"line {i}").ToArray();
        int checks = 0;

        ScenarioReducer.Reduce(lines, _ => { checks++; return false; }, budget: 25);

        Assert.InRange(checks, 1, 27);   // the first check of the whole, then the budget
    }
}
