// Creates Kafka topics (one partition each) for the apply tests that produce their own events with
// kcat: the test broker does not create topics on first use. Usage: java CreateTopics.java BOOTSTRAP TOPIC...
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;

public class CreateTopics {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    List<NewTopic> topics = new ArrayList<>();
    for (int i = 1; i < args.length; ++i) topics.add(new NewTopic(args[i], Optional.of(1), Optional.empty()));
    try (Admin admin = Admin.create(props)) {
      admin.createTopics(topics).all().get();
    }
  }
}
